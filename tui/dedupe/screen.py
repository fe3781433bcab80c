"""`ReviewScreen`: the duplicate groups one at a time, their files side by side.

Keys: left/right (h/l) move between the files, k keeps the current file (the
keeper chosen by hand), s leaves the group alone (again: not), x marks the
group as not duplicates (remembered in the project, undoable), n/p or
PageDown/PageUp go to the next or previous group, a changes the action
(trash, tag, hard link, symbolic link, move: asks for the folder, checked as
`planche dedupe --action move:DIR` checks it), i finds the groups again with mirrored,
then turned, then both kinds of copies (the choices made so far start afresh),
Enter asks to act on every group as reviewed, Escape (or q) leaves without
acting.

The screen dismisses with the `dedupe` parameters to run (Enter, confirmed) or
None; the app runs the command as long work, with progress and undo. Pictures
are read in a worker, the file itself at the card's size, or the stored
thumbnail when the file cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Static

from planche.core import commands, read
from planche.core.errors import PlancheError
from planche.core.text import count, printable
from planche.tui.dedupe.card import FileCard, picture_strips
from planche.tui.dedupe.move import MoveScreen
from planche.tui.dedupe.review import VERBS, Review
from planche.tui.images import decode_picture
from planche.tui.screens import ConfirmScreen

PICTURE_PIXELS = 768  # the file is read at most this large: a card is never wider
INVARIANCES = ("none", "mirror", "rotate", "all")
_INVARIANCE_TEXT = {
    "none": "copies as they are",
    "mirror": "mirrored copies too",
    "rotate": "turned copies too",
    "all": "mirrored and turned copies too",
}


class ReviewScreen(Screen[dict[str, Any] | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1)", "File", show=False),
        Binding("right,l", "move(1)", "File", show=False),
        Binding("k", "keep", "Keep this"),
        Binding("s", "leave", "Leave group"),
        Binding("x", "not_duplicates", "Not duplicates"),
        Binding("n,pagedown", "group(1)", "Next"),
        Binding("p,pageup", "group(-1)", "Previous", show=False),
        Binding("a", "action", "Action"),
        Binding("i", "invariance", "Mirrors"),
        Binding("enter", "apply", "Act on all"),
        Binding("escape,q", "close", "Back"),
    ]

    DEFAULT_CSS = """
    ReviewScreen {
        layout: vertical;
        #review-title { height: 1; background: $panel; text-style: bold; }
        #review-reason { height: 1; color: $text-muted; }
        #review-cards { height: 1fr; }
        #review-status { height: 1; background: $panel; color: $text-muted; }
    }
    """

    def __init__(
        self,
        plan: dict[str, Any],
        params: dict[str, Any],
        *,
        project: Path,
        sharp_images: Any = None,
        thumbnails: Any = None,
    ) -> None:
        super().__init__()
        self.review = Review(plan, params)
        self.project = project
        self.sharp_images = sharp_images
        self.thumbnails = thumbnails
        self.position = 0
        self.current = 0
        self._pictures: LRUCache[tuple[str, tuple[int, int]], Any] = LRUCache(64)

    def compose(self) -> ComposeResult:
        yield Static("", id="review-title", markup=False)
        yield Static("", id="review-reason", markup=False)
        yield Horizontal(id="review-cards")
        yield Static("", id="review-status", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        await self._show_group()

    # -- showing ----------------------------------------------------------------------

    @property
    def cards(self) -> list[FileCard]:
        return list(self.query(FileCard))

    @property
    def visible_cards(self) -> int:
        """How many cards fit side by side (each at least 30 columns)."""
        return max(1, min(4, self.size.width // 40))

    async def _show_group(self) -> None:
        """The cards of the current group (as many as fit, around the current file)."""
        review = self.review
        if not review.groups:
            self.query_one("#review-title", Static).update("No duplicate groups.")
            return
        group = review.group(self.position)
        views = review.files(group)
        self.current = min(self.current, len(views) - 1)
        shown = self.visible_cards
        first = min(max(0, self.current - shown + 1), max(0, len(views) - shown))
        first = min(first, self.current)
        window = views[first : first + shown]
        box = self.query_one("#review-cards", Horizontal)
        cards = self.cards
        if len(cards) != len(window):
            await box.remove_children()
            cards = [FileCard(self.sharp_images) for _ in window]
            await box.mount_all(cards)
        rule = review.rule_text(group)
        for card, view in zip(cards, window, strict=True):
            target = review.relative_target(view.target) if view.target else None
            card.show_text(view, rule, target)
            card.set_class(view.index == self.current, "-current")
        self._update_header(group, len(views), first, len(window))
        self.call_after_refresh(self._load_pictures, [c for c in cards])

    def _update_header(self, group: dict[str, Any], files: int, first: int, shown: int) -> None:
        review = self.review
        number = group["group"]
        title = f"Group {self.position + 1} of {len(review.groups)} · {count(files, 'file')}"
        if shown < files:
            title += f" (files {first + 1}-{first + shown})"
        if number in review.dismissed:
            title += " · marked as not duplicates"
        elif number in review.left:
            title += " · left alone"
        self.query_one("#review-title", Static).update(Text(title, no_wrap=True))
        reason = f"keeper: {printable(review.rule_text(group))}"
        if group["rule"] and number not in review.chosen:
            reason += f" [{printable(group['rule'])}]"
        self.query_one("#review-reason", Static).update(
            Text(reason, no_wrap=True, overflow="ellipsis")
        )
        counts = review.counts()
        acted = sum(n for fate, n in counts.items() if fate.startswith("would"))
        invariance = review.params.get("invariance") or "none"
        seen = "" if invariance == "none" else f" · {_INVARIANCE_TEXT[invariance]}"
        action = review.action
        if action == "move":
            action = f"move into {printable(review.folder)}"
        status = (
            f"action: {action}{seen} · Enter: {VERBS[review.action]} {count(acted, 'file')} "
            f"in {count(len(review.groups), 'group')}; "
            f"{count(len(review.chosen), 'keeper')} chosen by hand, "
            f"{count(len(review.left), 'group')} left alone · ctrl+z undoes it after"
        )
        self.query_one("#review-status", Static).update(
            Text(status, no_wrap=True, overflow="ellipsis")
        )

    def _load_pictures(self, cards: list[FileCard]) -> None:
        wanted = []
        for card in cards:
            if card.path is None:
                continue
            key = (card.path, card.picture_box)
            cached = self._pictures.get(key)
            if cached is not None:
                card.show_picture(cached)
            else:
                wanted.append((card, card.path, card.picture_box))
        if wanted:
            r, g, b = self.background_colors[1].rgb
            self._read_pictures(wanted, (r << 16) | (g << 8) | b)

    @work(thread=True, exclusive=True, group="review-pictures", exit_on_error=False)
    def _read_pictures(self, wanted: list[tuple[FileCard, str, tuple[int, int]]], bg: int) -> None:
        for card, path, box in wanted:
            picture = self._picture(path)
            if picture is not None and self.sharp_images is None:
                picture = picture_strips(picture, box, bg)
            if picture is not None:
                self._pictures.set((path, box), picture)
            self.app.call_from_thread(self._picture_read, card, path, picture)

    def _picture(self, path: str) -> Any:
        """The file at card size, else its stored thumbnail, else None."""
        try:
            return read.picture(path, size=PICTURE_PIXELS)
        except Exception:  # noqa: BLE001 - gone or unreadable: the stored thumbnail
            pass
        image_id = self._image_of(path)
        if image_id is None or self.thumbnails is None:
            return None
        try:
            data = self.thumbnails.thumbnails([image_id]).get(image_id)
        except Exception:  # noqa: BLE001 - no picture is an empty frame
            return None
        return decode_picture(data) if data else None

    def _image_of(self, path: str) -> int | None:
        group = self.review.group(self.position)
        return next((f["image_id"] for f in group["files"] if f["path"] == path), None)

    def _picture_read(self, card: FileCard, path: str, picture: Any) -> None:
        if card.path == path and card.is_mounted:
            card.show_picture(picture)

    # -- keys -------------------------------------------------------------------------

    async def action_move(self, step: int) -> None:
        files = len(self.review.group(self.position)["files"]) if self.review.groups else 0
        if files:
            self.current = (self.current + step) % files
            await self._show_group()

    async def action_group(self, step: int) -> None:
        if self.review.groups:
            self.position = (self.position + step) % len(self.review.groups)
            self.current = 0
            await self._show_group()

    async def action_keep(self) -> None:
        if not self.review.groups:
            return
        if not self.review.choose(self.position, self.current):
            self._notify("This file is gone: it cannot be the keeper.", "warning")
            return
        await self._show_group()

    async def action_leave(self) -> None:
        if self.review.groups:
            left = self.review.toggle_left(self.position)
            self._notify("This group will be left alone." if left else "This group is back.")
            await self._show_group()

    def action_invariance(self) -> None:
        """Find the groups again, counting mirrored, turned or both kinds of copies."""
        params = dict(self.review.params)
        now = params.get("invariance") or "none"
        params["invariance"] = INVARIANCES[(INVARIANCES.index(now) + 1) % len(INVARIANCES)]
        self._notify(f"Finding the groups again ({_INVARIANCE_TEXT[params['invariance']]})…")
        self._replan(params)

    def _command(self, name: str, params: dict[str, Any]) -> Any:
        """Run a command from a worker thread; None, with a notification, when it fails."""
        try:
            return commands.run(self.project, name, params)
        except PlancheError as exc:
            self.app.call_from_thread(self._notify, str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            self.app.call_from_thread(
                self._notify, f"internal error: {type(exc).__name__}: {exc}", "error"
            )
        return None

    @work(thread=True, exclusive=True, group="review-plan", exit_on_error=False)
    def _replan(self, params: dict[str, Any]) -> None:
        plan = self._command("dedupe_plan", params)
        if plan is None:
            return
        moved = None
        if self.review.action == "move":  # where the files of the new groups would go
            paths = Review(plan, params).paths()
            moved = self._command("dedupe_target", {"folder": self.review.folder, "paths": paths})
        self.app.call_from_thread(self._replanned, plan, params, moved)

    async def _replanned(
        self, plan: dict[str, Any], params: dict[str, Any], moved: dict[str, Any] | None
    ) -> None:
        action = self.review.action if self.review.action != "move" or moved else "trash"
        self.review = Review(plan, params, action=action)
        if moved is not None:
            self.review.choose_move(moved)
        self.position = self.current = 0
        self._notify(f"{count(len(plan['groups']), 'group')} "
                     f"({_INVARIANCE_TEXT[params['invariance']]}).")  # fmt: skip
        await self._show_group()

    async def action_action(self) -> None:
        review = self.review
        upcoming = review.next_action()
        if upcoming != "move":
            review.choose_action(upcoming)
            await self._show_group()
            return

        async def chosen(checked: dict[str, Any] | None) -> None:
            if checked is None:  # no folder: the cycle goes on past move
                review.choose_action(review.next_action(after="move"))
            else:
                review.choose_move(checked)
            await self._show_group()

        self.app.push_screen(MoveScreen(self.project, review.paths(), review.folder), chosen)

    def action_not_duplicates(self) -> None:
        if not self.review.groups:
            return
        group = self.review.group(self.position)
        if group["group"] in self.review.dismissed:
            self._notify("Already marked (ctrl+z in the main screen takes it back).")
            return
        self._dismiss_group(group["group"], list(group["images"]))

    @work(thread=True, exclusive=True, group="review-dismiss", exit_on_error=False)
    def _dismiss_group(self, number: int, images: list[int]) -> None:
        if self._command("not_duplicates", {"images": images}) is not None:
            self.app.call_from_thread(self._dismissed, number)

    async def _dismissed(self, number: int) -> None:
        self.review.dismissed.add(number)
        self._notify("Marked as not duplicates: this group will not be shown again.")
        await self._show_group()

    def action_apply(self) -> None:
        review = self.review
        counts = review.counts()
        acted = sum(n for fate, n in counts.items() if fate.startswith("would"))
        if not acted:
            self._notify("Nothing to do: every file is kept or left alone.", "warning")
            return
        verb = {"trash": "Move", "tag": "Tag", "hardlink": "Replace", "symlink": "Replace",
                "move": "Move"}  # fmt: skip
        into = f" into {review.folder}, below their paths in the imported folder"
        how = {"trash": " to the trash", "tag": " as Duplicates/copy",
               "hardlink": " with hard links to their keepers",
               "symlink": " with symbolic links to their keepers", "move": into}  # fmt: skip
        question = (f"{verb[review.action]} {count(acted, 'file')}{how[review.action]}? "
                    "Each is checked again first; ctrl+z puts everything back.")  # fmt: skip

        def answer(sure: bool | None) -> None:
            if sure:
                self.dismiss(review.dedupe_params())

        self.app.push_screen(ConfirmScreen(question), answer)

    def action_close(self) -> None:
        self.dismiss(None)

    async def on_resize(self, event: events.Resize) -> None:
        await self._show_group()

    def _notify(self, message: str, severity: str = "information") -> None:
        self.notify(printable(message), severity=severity, markup=False)  # type: ignore[arg-type]
