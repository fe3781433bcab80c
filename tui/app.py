"""The planche app: a tree of scopes, a virtual grid of thumbnails, a parameter pane.

The app reaches core only through `planche.core.commands` (every change, and
searches), `planche.core.read` (every query it shows) and a `Session` it owns
(the embedders, vectors and indexes that are expensive to load); the
project is opened for each piece of work and closed again, so `planche info`
in another pane keeps working. Long work (import, search with a model,
clustering, index builds) runs in a thread worker with a progress bar and
stops on Escape. torch is imported only when a CLIP model is first needed,
in a worker, never at start-up.

Text is text: names from users (files, folders, tags, properties, cluster
labels, EXIF, messages quoting them) are never parsed as markup. Widgets get
rich `Text` or `markup=False`, and every notification is plain text with
control characters escaped (`notify` below).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.suggester import SuggestFromList
from textual.widgets import Footer, ProgressBar, Static, Tree

from planche.core import commands, read
from planche.core.errors import PlancheError
from planche.core.progress import CancelToken
from planche.core.session import Session
from planche.core.text import count, printable
from planche.tui.dedupe.screen import ReviewScreen
from planche.tui.grid import ThumbnailGrid
from planche.tui.image_actions import ImageActions
from planche.tui.images import ImageMode
from planche.tui.importing import ImportActions
from planche.tui.jobs import JobRunner
from planche.tui.live import WATCH_S, LiveProject
from planche.tui.map import Colouring, MapScreen, colouring_options, load_colouring
from planche.tui.organise import View, ViewScreen
from planche.tui.organise.suggesting import SuggestionActions
from planche.tui.organise.tag_editing import TagEditing
from planche.tui.panes import PaneKeys
from planche.tui.params_pane import ParamsPane
from planche.tui.previewing import PreviewActions
from planche.tui.screens import ConfirmScreen, HelpScreen, PreviewScreen, PromptScreen
from planche.tui.tree_pane import ProjectTree
from planche.tui.tree_pane import read_contents as read_tree
from planche.tui.workers import background

SEARCH_RESULTS = 200
# The form, footer and tree come after the first grid, and at the latest this long
# after the start (thumbnails that never decode must not keep them away).
_REST_AT_THE_LATEST_S = 2.0
# Keys that must win over the focused widget's own (see tui/panes.py).
PRIORITY_KEYS = frozenset({"tab", "shift+tab", "escape"})


@dataclass(frozen=True)
class _Shown:
    """What the grid shows: a scope, its captions (None: file names) and sections."""

    scope: read.Scope
    captions: list[str] | None = None
    sections: list[tuple[str, int]] | None = None


class PlancheCommands(Provider):
    """Every action in the command palette, named as in the footer and help."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, PlancheApp)
        matcher = self.matcher(query)
        for key, action, _, description in app.ACTIONS:
            score = matcher.match(description)
            if score > 0:
                yield Hit(score, matcher.highlight(description),
                          _runner(app, action), help=f"key: {key}")  # fmt: skip

    async def discover(self) -> Hits:
        """Before anything is typed: every action (Textual lists only its own)."""
        app = self.app
        assert isinstance(app, PlancheApp)
        for key, action, _, description in app.ACTIONS:
            yield DiscoveryHit(description, _runner(app, action), help=f"key: {key}")


def _runner(app: App[Any], action: str) -> Callable[[], Any]:
    async def run() -> None:
        await app.run_action(action)

    return run


class PlancheApp(PaneKeys, JobRunner, LiveProject, PreviewActions, ImageActions, ImportActions,
                 SuggestionActions, TagEditing, App[None]):  # fmt: skip
    CSS_PATH = "app.tcss"
    TITLE = "planche"
    COMMANDS = App.COMMANDS | {PlancheCommands}

    # One table for the bindings, the footer, `?` and the command palette:
    # (key, action, footer label or None when not in the footer, description).
    ACTIONS = (
        ("slash", "focus_search", "Search", "search by text"),
        ("s", "similar", "Similar", "images similar to the current one"),
        ("c", "cluster", "Cluster", "cluster the current scope"),
        ("r", "recluster", None, "cluster the selected cluster again"),
        ("w", "save_clustering", None, "save the selected clustering as tags"),
        ("x", "delete_clustering", None, "delete the clustering, tag or property in the tree"),
        ("e", "rename_in_tree", None, "rename the tag or property under the tree's cursor"),
        ("v", "move_tag", None, "move the tag in the tree under another, or merge it (=)"),
        ("t", "tag", "Tag", "tag the selected images (or the current one)"),
        ("u", "untag", None, "remove the open tag from the selected images"),
        ("i", "import_folder", "Import", "import a folder"),
        ("m", "switch_model", None, "switch to the project's next model"),
        ("M", "map", "Map", "the map of the current scope (c there colours it)"),
        ("D", "dedupe", None, "review the duplicate groups: keep one, trash the others"),
        ("a", "show_all", None, "show all images"),
        ("f", "view", "Filter", "filter, sort and group the grid by any property"),
        ("C", "cycle_captions", None, "captions: name, size, resolution, date (or score)"),
        ("Y", "copy_path", None, "copy the current image's path (works over SSH too)"),
        ("o", "open_image", None, "open the current image in the system's viewer"),
        ("R", "reveal_folder", None, "show the current image's folder in the tree"),
        ("F", "clear_view", None, "show the scope without its filter, sort or grouping"),
        ("p", "set_property", None, "set a typed property on the selected images (Rating=4)"),
        ("S", "suggest", None, "suggest images for the open tag (y tags them, n refuses)"),
        ("y", "accept_suggestion", None, "tag the selected suggestions"),
        ("n", "refuse_suggestion", None, "refuse the selected suggestions for good"),
        ("ctrl+z", "undo", None, "undo the last change to tags or clusterings"),
        ("ctrl+y", "redo", None, "redo what undo took back"),
        ("1", "focus_pane('tree')", None, "go to the tree of folders, tags and clusterings"),
        ("2", "focus_pane('grid')", None, "go to the grid"),
        ("3", "focus_pane('params')", None, "go to the search and clustering form"),
        ("tab", "next_pane", None, "the next pane"),
        ("shift+tab", "previous_pane", None, "the previous pane"),
        (
            "escape",
            "escape",
            None,
            "stop the running work; else close the form, leave a box, clear the selection",
        ),
        ("question_mark", "help", "Help", "this help"),
        ("q", "quit", "Quit", "quit"),
    )
    BINDINGS = [
        Binding(
            key, action, label or description, show=label is not None, priority=key in PRIORITY_KEYS
        )  # fmt: skip
        for key, action, label, description in ACTIONS
    ]

    # What stays on over the map and the duplicates review (screens without the
    # grid the others act on).
    ON_THE_MAP = frozenset({"help", "quit", "escape"})
    # Over the preview: what acts on the image shown (the grid's cursor follows
    # it); clustering, importing or the map from there would act out of sight.
    ON_THE_PREVIEW = ON_THE_MAP | {
        "tag", "untag", "set_property", "copy_path", "open_image", "undo", "redo",
    }  # fmt: skip

    def __init__(
        self,
        project: Path,
        *,
        images: ImageMode | None = None,
        import_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.image_mode = images or ImageMode("none")
        self.pending_import = import_folder
        self.session = Session(project)
        self.scope = read.Scope("all images", ())  # what the grid shows
        self.base_scope = self.scope  # the same before the view applies
        self.view = View()
        self.model_id: int | None = None
        self.models: list[dict[str, Any]] = []
        self.index_kind = "-"
        self._cancel: CancelToken | None = None
        self._form_ready = asyncio.Event()  # set once the form is built (start_rest)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A notification, as plain text by default: messages quote file, tag and
        property names, which must never be read as markup. Thread-safe."""
        if not markup:
            message, title = printable(message), printable(title)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, MapScreen | ReviewScreen):
            allowed = self.ON_THE_MAP
        elif isinstance(self.screen, PreviewScreen):
            allowed = self.ON_THE_PREVIEW
        else:
            return True
        # False hides the app's own keys there (and leaves Textual's own alone).
        return action in allowed or all(action != a for _, a, _, _ in self.ACTIONS)

    # -- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield ProjectTree(id="tree")
            yield ThumbnailGrid(read.StoreThumbnails(self.project), id="grid")
            yield ParamsPane(id="params")
        with Horizontal(id="status-row"):
            yield Static("", id="status", markup=False)
            yield ProgressBar(id="progress", show_eta=False)
        # The footer (a widget per key), the form and the tree come once the grid is
        # shown (start_rest): the first screen waits for thumbnails, not for them.
        yield Static("", id="footer-slot")

    def on_resize(self, event: Any) -> None:
        # Below 120 columns the parameter pane hides (its keys still work) so
        # the grid keeps room for thumbnails.
        self.screen.set_class(event.size.width < 120, "narrow")

    def on_mount(self) -> None:
        self.screen.set_class(self.size.width < 120, "narrow")
        self.query_one("#progress", ProgressBar).display = False
        self.query_one("#grid", ThumbnailGrid).focus()
        self.set_interval(1.0, self._poll_graph_build)
        self.set_interval(WATCH_S, self._watch_project)
        if self.pending_import is not None:
            folder, self.pending_import = self.pending_import, None
            self.start_rest()
            self.offer_import(folder)
        elif self.project.exists():
            self.refresh_project()
            self.set_timer(_REST_AT_THE_LATEST_S, self.start_rest)
        else:
            self.start_rest()
            self._status_note = "no project yet: press i to import a folder"
            self._update_status()

    # -- the rest of the first screen ---------------------------------------

    _rest_started = False

    def on_thumbnail_grid_first_shown(self, _event: ThumbnailGrid.FirstShown) -> None:
        self.start_rest()

    def start_rest(self) -> None:
        """Build what the first grid did not wait for: the form, the footer, the tree."""
        if self._rest_started:
            return
        self._rest_started = True
        self.run_worker(self._build_rest(), group="start-rest", exit_on_error=False)

    async def _build_rest(self) -> None:
        # The main screen's, whatever is on top of it now (the import offer may be).
        main = self.screen_stack[0]
        try:
            await main.query_one("#params", ParamsPane).build()
            await main.mount(Footer())
            await main.query_one("#footer-slot").remove()
            main.refresh_bindings()  # the footer lists the keys when they change
        finally:
            self._form_ready.set()  # keys waiting for the form act (or fail), never hang
        if self.project.exists():
            self._load_tree()

    def with_form(self, then: Callable[[], Any]) -> bool:
        """True when the form is built; else builds it, runs `then` once it is, and
        returns False (a key pressed before the first grid came in)."""
        if self._form_ready.is_set():
            return True
        self.start_rest()

        async def later() -> None:
            await self._form_ready.wait()
            then()

        self.run_worker(later(), group="after-start", exit_on_error=False)
        return False

    @background("tree")
    def _load_tree(self) -> None:
        tree = read_tree(self.project)
        self.call_from_thread(self.query_one("#tree", ProjectTree).show, tree)

    _status_note = ""
    _base_captions: tuple[str, ...] = ()  # captions given with the base scope (scores)
    _graph_build: str | None = None  # what the session is doing to the search graph

    def _poll_graph_build(self) -> None:
        """A graph built in the background shows its progress, then that it is done."""
        model = self._current_model()
        building = self.session.building(model["id"]) if model is not None else None
        if building != self._graph_build:
            if self._graph_build and building is None:
                self.notify("The search graph is built: searches use it from now on.")
            self._graph_build = building
            self._update_status()

    def on_unmount(self) -> None:
        self.session.stop_builds()

    def _current_model(self) -> dict[str, Any] | None:
        return next((m for m in self.models if m["id"] == self.model_id), None)

    def _update_status(self) -> None:
        model = self._current_model()
        if model is None:
            described = "no vectors yet"
        else:
            loaded = self.session.loaded_embedder(model["id"])
            if loaded is not None:
                device = f" on {loaded.device}"
            elif model["text"]:
                device = " (loads on first text query)"
            else:
                device = " (no text search)"
            described = printable(model["label"]) + device
        # What is shown and selected first: at 80 columns the end is cut off.
        grid = self.query_one("#grid", ThumbnailGrid)
        parts = [f"{printable(self.scope.title)} ({len(self.scope.image_ids):,})"]
        if grid.selected:
            parts.append(f"{len(grid.selected):,} selected")
        parts += [
            printable(self.project.name),
            count(self._image_count, "image"),
            described,
            f"index {self.index_kind}"
            + (f" · graph {printable(self._graph_build)}" if self._graph_build else ""),
            f"images: {self.image_mode.status(grid.graphics)}",
        ]
        # Rich Text, never markup: a scope title quotes a folder, tag or query.
        text = Text(" · ".join(parts))
        note = self._status_note or self.image_mode.note
        if note:
            text.append(f"  {printable(note)}", style="italic")
        self.query_one("#status", Static).update(text)

    _image_count = 0

    # -- loading ------------------------------------------------------------

    @background("load")
    def refresh_project(
        self, keep_scope: bool = False, scope_loader: Callable[[], read.Scope] | None = None
    ) -> None:
        """Reload counts, models and the tree, then show `scope_loader`'s scope,
        the current one (`keep_scope`) or all images."""
        try:
            first = read.overview(self.project, with_all_images=not keep_scope and not scope_loader)
            head, info, models = first.head, first.info, first.info["models"]
            captions = None
            if scope_loader is not None:
                scope = scope_loader()
            elif keep_scope:
                scope = read.scope_again(self.project, self.base_scope)
                if scope.kind in ("search", "suggest") and scope == self.base_scope:
                    captions = list(self._base_captions)  # scores, not names
            else:
                assert first.all_images is not None
                scope = first.all_images
            shown = self._viewed(scope, captions)
        except PlancheError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            self.call_from_thread(self.start_rest)
            return
        self._seen_head = head
        self.call_from_thread(self._apply_project, info, models, scope, shown, keep_scope)
        if self._rest_started:  # else the first screen's rest reads it (start_rest)
            # The tree after the grid: the grid is what the first screen waits for.
            self.call_from_thread(self._load_tree)

    def _apply_project(self, info: dict[str, Any], models: list[dict[str, Any]],
                       scope: read.Scope, shown: _Shown,
                       keep_place: bool = False) -> None:  # fmt: skip
        self._image_count = info["images"]
        self.models = [m for m in models if m["vectors"]]
        if self.models and self.model_id not in {m["id"] for m in self.models}:
            default = [m for m in self.models if m["default"]]
            self.model_id = (default or self.models)[-1]["id"]
        self.base_scope = scope
        self._show_in_grid(shown, keep_place)

    def show_scope(self, scope: read.Scope, captions: list[str] | None = None,
                   listing: read.Listing | None = None,
                   keep_place: bool = False) -> None:  # fmt: skip
        """Show a scope, through the view when there is one; read in a worker."""
        self.base_scope = scope
        self._base_captions = tuple(captions or ())
        self._show_scope(scope, captions, listing, keep_place)

    @background("scope")
    def _show_scope(self, scope: read.Scope, captions: list[str] | None,
                    listing: read.Listing | None, keep_place: bool) -> None:  # fmt: skip
        try:
            shown = self._viewed(scope, captions, listing)
        except PlancheError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.call_from_thread(self._show_in_grid, shown, keep_place)

    def _viewed(self, scope: read.Scope, captions: list[str] | None = None,
                listing: read.Listing | None = None) -> _Shown:  # fmt: skip
        """What the grid shows of `scope` through the view, captions read
        (worker thread)."""
        view = self.view
        if self.caption_kind not in (None, "score"):
            captions = None  # the kind of caption chosen with C, read for every image
        if not view.active:
            if captions is None:
                names = self.caption_texts(list(scope.image_ids))
                captions = [names.get(i, str(i)) for i in scope.image_ids]
            return _Shown(scope, captions)
        if listing is None:
            within = None if scope.kind == "all" else scope.image_ids
            listing = read.list_images(self.project, view.where, view.sort, view.group,
                                       within=within)  # fmt: skip
        sections = None
        ids: tuple[int, ...] = tuple(listing.ids.tolist())
        if listing.groups is not None:
            ids = tuple(int(i) for _, members in listing.groups for i in members)
            sections = [(label, len(members)) for label, members in listing.groups]
        given = dict(zip(scope.image_ids, captions, strict=True)) if captions else {}
        names = self.caption_texts([i for i in ids if i not in given])
        shown = [given.get(i) or names.get(i, str(i)) for i in ids]
        title = f"{scope.title} · {view.describe()}"
        return _Shown(read.Scope(title, ids, "filter", view.where), shown, sections)

    def _show_in_grid(self, shown: _Shown, keep_place: bool = False) -> None:
        """Put `shown` in the grid; with `keep_place` (the same scope read again),
        the cursor stays on its image and the selection on what is still there."""
        self.scope = shown.scope
        grid = self.query_one("#grid", ThumbnailGrid)
        current, selected = grid.current_image_id, grid.selected
        captions = shown.captions
        if captions is None:
            captions = [str(i) for i in shown.scope.image_ids]
        grid.set_images(shown.scope.image_ids, captions, shown.sections)
        if keep_place and current is not None:
            if selected:
                grid.select_images(selected)
            position = {image_id: n for n, image_id in enumerate(grid.image_ids)}
            if current in position:
                grid.cursor = position[current]
        self._update_status()

    # -- the view: filter, sort, group ------------------------------------------

    def action_view(self) -> None:
        base = self.base_scope
        within = None if base.kind == "all" else base.image_ids

        def chosen(result: tuple[View, read.Listing] | None) -> None:
            if result is None:
                return
            self.view, listing = result
            self.show_scope(base, None, listing if self.view.active else None)
            if self.view.active and not listing.ids.size:
                self.notify("No image in this scope passes the filter (F shows them all again).")
            self.query_one("#grid", ThumbnailGrid).focus()

        self.push_screen(ViewScreen(self.project, self.view, within, base.title), chosen)

    def action_clear_view(self) -> None:
        if self.view.active:
            self.view = View()
            self.show_scope(self.base_scope)

    def action_set_property(self) -> None:
        targets = self._target_images()
        if not targets:
            self.notify("No image to set a property on.")
            return

        def apply(spec: str | None) -> None:
            if not spec:
                return
            name, sep, value = spec.partition("=")
            name, _, kind = name.partition(":")  # Name:type makes the property if need be
            if not sep or not name.strip():
                self.notify("Write it as Property=value (an empty value removes it), or "
                            "Property:type=value for a new one.", severity="error")  # fmt: skip
                return
            params = {"property": name.strip(), "value": value.strip(), "images": targets}

            def steps(context: commands.Context) -> None:
                known = {p["name"] for p in read.properties(self.project)["properties"]}
                if kind.strip() and name.strip() not in known:
                    commands.run(self.project, "add_property",
                                 {"name": name.strip(), "type": kind.strip().lower()},
                                 context)  # fmt: skip
                commands.run(self.project, "set_property", params, context)

            def done(_: None) -> None:
                what = f"= {value.strip()}" if value.strip() else "removed"
                self.notify(f"{name.strip()} {what} on {count(len(targets), 'image')} "
                            "(ctrl+z takes it back)")  # fmt: skip
                self.refresh_project(keep_scope=True)

            self._run_write("setting…", steps, done)

        question = (
            f"Set a property on {count(len(targets), 'image')} (Name=value; "
            "Name:type=value makes a new one: text, number, date, checkbox, url):"
        )
        self.push_screen(PromptScreen(question, placeholder="Rating=4"), apply)

    def on_tree_node_selected(self, event: Tree.NodeSelected[dict[str, Any]]) -> None:
        data = event.node.data or {}
        kind = data.get("kind")
        loaders = {
            "all": lambda: read.all_images(self.project),
            "folder": lambda: read.folder_images(self.project, data["ref"]),
            "tag": lambda: read.tag_images(self.project, data["ref"], data["name"]),
            "cluster": lambda: read.cluster_images(self.project, data["ref"]),
        }
        if kind in loaders:
            self._load_scope(loaders[kind])

    @background("scope")
    def _load_scope(self, loader: Callable[[], read.Scope]) -> None:
        try:
            scope = loader()
        except PlancheError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.call_from_thread(self.show_scope, scope)

    def on_thumbnail_grid_selection_changed(self, _event: Any) -> None:
        self._update_status()

    # -- search -------------------------------------------------------------

    def action_focus_search(self) -> None:
        if not self.with_form(self.action_focus_search):
            return
        if self.query_one("#params").display and not self.screen.has_class("narrow"):
            self.query_one("#search-text").focus()
            return

        def run_search(text: str | None) -> None:
            if text and text.strip():
                self._search({"texts": [text.strip()]})

        self.push_screen(PromptScreen("Search for:", placeholder="a red boat"), run_search)

    def on_params_pane_search_requested(self, event: ParamsPane.SearchRequested) -> None:
        self._search({"texts": [event.text]})

    def action_similar(self) -> None:
        image_id = self.query_one("#grid", ThumbnailGrid).current_image_id
        if image_id is None:
            self.notify("No image under the cursor.")
            return
        self._search({"images": [str(image_id)]})

    def _search(self, query: dict[str, list[str]]) -> None:
        """Search with the current model: the search command asks the session for the
        model's embedder (a text query) and its index."""
        model_id = self.model_id

        def job(cancel: CancelToken, progress: Any) -> dict[str, Any]:
            params = {**query, "k": SEARCH_RESULTS, "model_id": model_id}
            return commands.run(
                self.project, "search", params, self._command_context(cancel, progress)
            )

        self._run_job("searching…", job, self.show_search_result)

    def show_search_result(self, result: dict[str, Any]) -> None:
        self.index_kind = result["index"]
        hits = result["results"]
        ids = tuple(h["image_id"] for h in hits)
        captions = [
            f"{h['similarity']:.3f} "
            + (printable(h["paths"][0].rsplit("/", 1)[-1]) if h["paths"] else "")
            for h in hits
        ]
        self.show_scope(read.Scope(f"search {result['query']}", ids, "search"), captions)
        self.query_one("#grid", ThumbnailGrid).focus()

    def action_switch_model(self) -> None:
        if not self.models:
            self.notify("The project has no vectors yet.")
            return
        ids = [m["id"] for m in self.models]
        current = ids.index(self.model_id) if self.model_id in ids else -1
        self.model_id = ids[(current + 1) % len(ids)]
        self.index_kind = "-"
        self._update_status()
        self.notify(f"Searching and clustering with {self._current_model()['label']}")

    # -- clustering -----------------------------------------------------------

    def action_cluster(self) -> None:
        if not self.with_form(self.action_cluster):
            return
        if self.screen.has_class("narrow") and not self.form_open:
            # no room for the form beside the grid: show it first, c again runs it
            self.action_focus_pane("params")
            fields = self.query("#param-fields Input")
            if fields:
                self.call_after_refresh(fields.first().focus)
            self.notify("Check the parameters; Enter in a box runs them, Escape closes.")
            return
        self.query_one("#params", ParamsPane).request_cluster()

    def action_recluster(self) -> None:
        """Cluster the open cluster again (or the one under the tree's cursor)."""
        if self.scope.kind != "cluster":
            node = self.query_one("#tree", ProjectTree).cursor_node
            if node is None or (node.data or {}).get("kind") != "cluster":
                self.notify("Open a cluster (select it in the tree) first.")
                return
            self.show_scope(read.cluster_images(self.project, node.data["ref"]))
        self.action_cluster()

    def _has_selection(self) -> bool:
        return len(self.query_one("#grid", ThumbnailGrid).selected) > 1

    def _scope_images(self) -> list[int] | None:
        """What an action on "the current scope" works on: the selection (two or
        more), else the images shown (a filtered view, folder, tag, search or
        cluster); None for all images."""
        if self._has_selection():
            return sorted(self.query_one("#grid", ThumbnailGrid).selected)
        if self.scope.kind == "all":
            return None
        return list(self.scope.image_ids)

    def on_params_pane_cluster_requested(self, event: ParamsPane.ClusterRequested) -> None:
        if self.form_open:
            self._close_form()
            self.query_one("#grid").focus()
        # A cluster shown whole is clustered again as its child; anything else by its ids.
        reclustered = self.scope.kind == "cluster" and not self._has_selection()
        within = self.scope.ref if reclustered else None
        ids = None if reclustered else self._scope_images()
        model_id = self.model_id

        def job(cancel: CancelToken, progress: Any) -> Any:
            params = {"strategy": event.strategy, "params": event.params, "within": within,
                      "image_ids": ids, "model_id": model_id}  # fmt: skip
            return commands.run(
                self.project, "cluster", params, self._command_context(cancel, progress)
            )

        def done(summary: dict[str, Any]) -> None:
            notes = "".join(f"\n{note}" for note in summary["notes"])
            said = commands.get_command("cluster").summary(summary)
            self.notify(
                f"{said[:1].upper()}{said[1:]}{notes}",
                severity="warning" if notes else "information",
            )
            self.refresh_project(keep_scope=True)

        self._run_job(f"clustering ({event.strategy})…", job, done)

    def _selected_clustering(self) -> int | None:
        node = self.query_one("#tree", ProjectTree).cursor_node
        data = (node.data or {}) if node else {}
        if data.get("kind") == "clustering":
            return int(data["ref"])
        if data.get("kind") == "cluster":
            return int(data["clustering"])
        self.notify("Select a clustering (or one of its clusters) in the tree first.")
        return None

    def action_save_clustering(self) -> None:
        clustering_id = self._selected_clustering()
        if clustering_id is None:
            return

        def save(name: str | None) -> None:
            if not name:
                return
            try:
                params = {"clustering_id": clustering_id, "name": name.strip()}
                saved = commands.run(self.project, "save_clustering", params)
            except PlancheError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"Saved as {count(saved['tags'], 'tag')} of {saved['property']}")
            self.refresh_project(keep_scope=True)

        self.push_screen(PromptScreen("Save the clustering as the tag property:", "Clustering"),
                         save)  # fmt: skip

    def action_delete_clustering(self) -> None:
        item = self._tree_item()
        if item.get("kind") in ("tag", "property"):
            self.delete_tag_or_property(item)
            return
        clustering_id = self._selected_clustering()
        if clustering_id is None:
            return

        def delete(sure: bool | None) -> None:
            if not sure:
                return
            try:
                params = {"clustering_id": clustering_id}
                done = commands.run(self.project, "delete_clustering", params)
            except PlancheError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"Deleted clustering(s) {', '.join(map(str, done['deleted']))} "
                        "(ctrl+z brings them back)")  # fmt: skip
            self.refresh_project()

        self.push_screen(
            ConfirmScreen(f"Delete clustering {clustering_id} and those nested in it?"), delete
        )

    # -- the map ----------------------------------------------------------------

    def action_map(self) -> None:
        """The 2D map of the current scope (all images for search results, which it
        highlights with the grid's selection), coloured by the clustering selected in
        the tree; computed (or reused) by the map command in a worker."""
        if self.model_id is None:
            self.notify("The project has no vectors yet.")
            return
        scope, model_id, project = self.scope, self.model_id, self.project
        grid = self.query_one("#grid", ThumbnailGrid)
        # A filtered view is mapped alone (the map of those images); search results
        # are shown on the map of all images, highlighted.
        kinds = {"folder": "folder", "tag": "tag", "cluster": "cluster", "filter": "images"}
        mapped = kinds.get(scope.kind, "all") if scope.image_ids else "all"
        highlighted = set(grid.selected)
        if scope.kind == "search":
            highlighted |= set(scope.image_ids)
        node = self.query_one("#tree", ProjectTree).cursor_node
        data = (node.data or {}) if node else {}
        clustering = data.get("clustering") or (
            data["ref"] if data.get("kind") == "clustering" else None
        )

        def job(cancel: CancelToken, progress: Any) -> Any:
            params = {"scope": mapped, "scope_ref": scope.ref if mapped != "all" else None,
                      "method": "pca", "model_id": model_id}  # fmt: skip
            if mapped == "images":
                params.update(scope_ref=None, image_ids=sorted(set(scope.image_ids)))
            outcome = commands.run(project, "map", params, self._command_context(cancel, progress))
            points = read.map_data(project, outcome["map_id"])
            names = read.captions(project, points.image_ids.tolist())
            colouring: Colouring | None = None
            if clustering is not None:
                key = ("clustering", int(clustering))
                try:
                    option = next(o for o in colouring_options(project) if o[:2] == key)
                    colouring = load_colouring(project, option, points.image_ids)
                except (PlancheError, StopIteration):
                    colouring = None  # the map all the same, uncoloured
            return points, names, colouring

        def done(result: Any) -> None:
            points, names, colouring = result
            title = scope.title if mapped != "all" else "all images"
            screen = MapScreen(points, project=project, captions=names, colouring=colouring,
                               thumbnails=read.StoreThumbnails(project),
                               highlighted=highlighted, title=title,
                               sharp_images=self.image_mode.widget_class)  # fmt: skip
            self.push_screen(screen, lambda ids: self._map_chosen(ids, names))

        self._run_job("computing the map…", job, done)

    def _map_chosen(self, image_ids: tuple[int, ...] | None, names: dict[int, str]) -> None:
        """Enter on the map: its images become the grid's selection (shown as a scope of
        their own when the grid does not show them all, as after a search)."""
        if not image_ids:
            return
        grid = self.query_one("#grid", ThumbnailGrid)
        if not set(image_ids) <= set(grid.image_ids):
            captions = [printable(names.get(i, str(i))) for i in image_ids]
            self.show_scope(read.Scope("map selection", tuple(image_ids), "search"), captions)
        grid.select_images(image_ids)
        grid.focus()
        self.notify(f"{count(len(image_ids), 'image')} selected on the map")

    # -- duplicates -----------------------------------------------------------

    def action_dedupe(self) -> None:
        """Find the duplicate groups of the scope (the project, or the filtered view,
        folder, tag or selection shown), then review them one by one."""
        project = self.project
        params: dict[str, Any] = {"action": "trash"}
        ids = self._scope_images()
        if ids is not None:
            params["images"] = ids

        def job(cancel: CancelToken, progress: Any) -> Any:
            context = self._command_context(cancel, progress)
            return commands.run(project, "dedupe_plan", params, context)

        def done(plan: dict[str, Any]) -> None:
            if not plan["groups"]:
                self.notify("No duplicates found.")
                return
            screen = ReviewScreen(plan, params, project=project,
                                  sharp_images=self.image_mode.widget_class,
                                  thumbnails=read.StoreThumbnails(project))  # fmt: skip
            self.push_screen(screen, self._dedupe_reviewed)

        self._run_job("finding duplicates…", job, done)

    def _dedupe_reviewed(self, params: dict[str, Any] | None) -> None:
        if params is None:
            return
        project = self.project

        def job(cancel: CancelToken, progress: Any) -> Any:
            context = self._command_context(cancel, progress)
            return commands.run(project, "dedupe", params, context)

        def done(outcome: dict[str, Any]) -> None:
            counts = outcome["counts"]
            quiet = ("groups", "files", "kept", "left", "skipped")
            done_text = [f"{count(n, 'file')} {status}" for status, n in counts.items()
                         if status not in quiet and n]  # fmt: skip
            skipped = counts.get("skipped", 0)
            if skipped:
                done_text.append(f"{count(skipped, 'file')} skipped (changed or unreadable)")
            self.notify(f"{', '.join(done_text) or 'Nothing done'} (ctrl+z puts them back)")
            self.refresh_project()

        self._run_job("acting on the duplicates…", job, done)

    # -- tags -----------------------------------------------------------------

    def _target_images(self) -> list[int]:
        grid = self.query_one("#grid", ThumbnailGrid)
        if grid.selected:
            return sorted(grid.selected)
        return [grid.current_image_id] if grid.current_image_id is not None else []

    def action_tag(self) -> None:
        targets = self._target_images()
        if not targets:
            self.notify("No image to tag.")
            return

        def apply(spec: str | None) -> None:
            if not spec:
                return
            prop, *path = [part.strip() for part in spec.split("/")]
            if not prop or not path or not all(path):
                self.notify("Write the tag as Property/tag (or Property/parent/tag).",
                            severity="error")  # fmt: skip
                return
            params = {"property": prop, "path": path, "images": targets}

            def done(_: Any) -> None:
                self.notify(f"Tagged {count(len(targets), 'image')} {prop}/{'/'.join(path)}")
                self.refresh_project(keep_scope=True)

            self._run_write("tagging…", lambda c: commands.run(self.project, "tag", params, c),
                            done)  # fmt: skip

        known = self.query_one("#tree", ProjectTree).tag_paths  # right takes the completion
        question = f"Tag {count(len(targets), 'image')} as:"
        self.push_screen(
            PromptScreen(question, placeholder="Subject/animal/cat",
                         suggester=SuggestFromList(known, case_sensitive=False)),
            apply,
        )  # fmt: skip

    def action_untag(self) -> None:
        if self.scope.kind != "tag":
            self.notify("Open a tag in the tree first: its images can then be untagged.")
            return
        targets = self._target_images()
        params = {"tag_id": int(self.scope.ref), "images": targets}  # type: ignore[arg-type]

        def done(_: Any) -> None:
            self.notify(f"Removed the tag from {count(len(targets), 'image')}")
            self.refresh_project(keep_scope=True)  # the tag again, the cursor in place

        self._run_write("untagging…", lambda c: commands.run(self.project, "untag", params, c),
                        done)  # fmt: skip

    def action_help(self) -> None:
        if isinstance(self.screen, PreviewScreen):  # its own keys, and the app's that act there
            rows = [(self._keys_shown(b.key), b.description) for b in PreviewScreen.BINDINGS
                    if isinstance(b, Binding)]  # fmt: skip
            rows += [("↑ ↓", "move in the nearest images"), ("⏎", "open that image")]
            rows += [(self._keys_shown(key), text) for key, action, _, text in self.ACTIONS
                     if action in self.ON_THE_PREVIEW]  # fmt: skip
            self.push_screen(HelpScreen(rows))
            return
        rows = [(self._keys_shown(key), text) for key, _, _, text in self.ACTIONS]
        rows += [("", ""), ("", "in the grid:")]
        rows += [(self._keys_shown(b.key), b.description)  # every key of the grid, as declared
                 for b in ThumbnailGrid.BINDINGS if isinstance(b, Binding)]  # fmt: skip
        rows += [("", ""), ("", "in the form:"), ("↑ ↓", "the previous or next box"),
                 ("⏎", "search, or run the clustering")]  # fmt: skip
        self.push_screen(HelpScreen(rows))

    def _keys_shown(self, keys: str) -> str:
        """Keys ("plus,equals_sign") as the footer writes them ("+ =")."""
        return " ".join(self.get_key_display(Binding(k.strip(), "")) for k in keys.split(","))

    def action_undo(self) -> None:
        self._undo_redo(commands.undo, "Undid", "Nothing to undo.", "undoing…")

    def action_redo(self) -> None:
        self._undo_redo(commands.redo, "Redid", "Nothing to redo.", "redoing…")

    def _undo_redo(self, operation: Callable[[Path], Any], verb: str, nothing: str,
                   title: str) -> None:  # fmt: skip
        def done(entry: dict[str, Any] | None) -> None:
            if entry is None:
                self.notify(nothing)
                return
            # Undo is the project's, not the window's (it may take back what the CLI
            # did): say what it took back, and when that was done.
            what = entry["command"].replace("_", " ")
            outcome = entry.get("outcome")
            if isinstance(outcome, dict):
                with contextlib.suppress(Exception):  # an old entry's outcome may not fit
                    what += f": {commands.get_command(entry['command']).summary(outcome)}"
            when = str(entry.get("at") or "")[11:16]  # HH:MM of an ISO time
            self.notify(f"{verb} {what}" + (f" (done at {when})" if when else ""))
            self.refresh_project(keep_scope=True)

        self._run_write(title, lambda _: operation(self.project), done)

    def action_show_all(self) -> None:
        self._load_scope(lambda: read.all_images(self.project))


def run_app(project: Path, images: str = "auto", import_folder: Path | None = None) -> None:
    mode = ImageMode(images)  # probes the terminal before Textual takes it over
    PlancheApp(project, images=mode, import_folder=import_folder).run()
