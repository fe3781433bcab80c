"""What the `planche` command line prints: summaries, tables, progress, JSON.

Text is text: the consoles parse no markup, replace no emoji codes and
highlight nothing, so a file named `[draft] cover.jpg` or a tag named
`[link=http://x]click` prints as it is spelt, never as a style or a terminal
hyperlink. Styles are given only through `Text(..., style=)` and `Table`
arguments. Text from outside (file names, labels, tag names, messages quoting
them) also goes through `printable`, which spells control characters as
escapes. On a terminal long lines wrap between words; into a pipe or a file
they stay whole, so grep and scripts see one line per item.

Every command ends with `emit`: with --json the result is one JSON document
on stdout, otherwise the command's text printer runs.
"""

from __future__ import annotations

import json
import sys
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from planche.core.progress import ProgressEvent
from planche.core.read import model_label, score_colour
from planche.core.text import count, printable

stdout = Console(
    markup=False, emoji=False, highlight=False, soft_wrap=not sys.stdout.isatty()
)  # fmt: skip
stderr = Console(
    stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=not sys.stderr.isatty()
)  # fmt: skip

FAILURES_SHOWN = 20


def emit(args: Namespace, result: Any, text: Callable[[], None]) -> None:
    """Finish a command: `result` as one JSON document with --json, else `text()`."""
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, default=str))
    else:
        text()


def say(message: str, style: str | None = None) -> None:
    """One line of text on stdout (already made printable by the caller)."""
    stdout.print(Text(message, style=style or ""))


def note(*lines: str, style: str = "") -> None:
    """Lines of text on stderr (progress, warnings, errors), each made printable here."""
    stderr.print(Text("\n".join(printable(line) for line in lines), style=style))


# -- import and embed -----------------------------------------------------------


def print_import(summary: dict[str, Any], embedding: dict[str, Any] | None = None) -> None:
    title = Text()
    title.append("Imported ", style="bold")
    title.append(printable(summary["folder"]))
    title.append(f" in {summary['seconds']:.1f} s")
    if summary["cancelled"]:
        title.append(" (stopped early: run the same command again to continue)", style="yellow")
    stdout.print(title)
    failed = summary["failed"]
    seen = summary["new"] + summary["duplicates"] + len(failed) + summary["known"]
    parts = [
        count(summary["new"], "new image"),
        f"{summary['duplicates']} with the bytes of another file",
        f"{summary['known']} unchanged",
        f"{len(failed)} failed",
    ]
    if summary["updated"]:
        parts.insert(1, f"{summary['updated']} of them from changed files")
    say(f"  {count(seen, 'file')}: " + ", ".join(parts))
    if summary["failed_before"]:
        say(
            f"  {count(summary['failed_before'], 'file')} that failed before, unchanged since, "
            "not read again (`planche errors` lists them)"
        )
    if summary["missing"]:
        gone = count(summary["missing"], "file")
        if summary["pruned"]:
            say(f"  {gone} gone from disk: forgotten (--prune)")
        else:
            say(
                f"  {gone} gone from disk since an earlier import: kept in the project "
                "(--prune forgets them)"
            )
    if failed:
        say("  Not imported:", style="bold red")
        for item in failed[:FAILURES_SHOWN]:
            say(f"    {printable(item['path'])}\n      {printable(item['reason'])}")
        hidden = len(failed) - FAILURES_SHOWN
        if hidden > 0:
            say(f"    ... and {hidden} more (`planche errors` lists them all)")
    if embedding:
        print_embed(embedding, during_import=summary["embedded"])


def print_embed(summary: dict[str, Any], during_import: int = 0) -> None:
    embedded = during_import + summary["embedded"]
    already = summary["already"] - during_import
    model = printable(summary["model"])
    if embedded == 0 and not summary["failed"]:
        say(f"Every image already has a vector for {model}.")
        return
    line = f"Embedded {count(embedded, 'image')} with {model} on {printable(summary['device'])}"
    if during_import:
        line += ", while importing"
    else:
        line += f" in {summary['seconds']:.1f} s ({summary['images_per_s']:.0f} images/s)"
    if already:
        line += f"; {already} already had one"
    say(line, style="bold")
    if summary["cancelled"]:
        say("  stopped early: run again to continue", style="yellow")
    for failure in summary["failed"]:
        say(
            f"  image {failure['image_id']} not embedded: {printable(failure['reason'])}",
            style="red",
        )


class ProgressReporter:
    """Progress on stderr: a live bar on a terminal, a line every few seconds elsewhere."""

    def __init__(self, label: str, unit: str = "files") -> None:
        self.label = label
        self.unit = unit
        self._live = stderr.is_terminal
        self._progress: Any = None
        self._task: Any = None
        self._last_line = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "wait":
            note(f"{self.label}: the project is in use ({event.detail}); waiting for it")
            return
        if event.total == 0:
            return
        if event.total is None:  # a step beginning: one line, above the bar if there is one
            doing = "scanning " if event.phase == "scan" else ""
            line = f"{self.label}: {doing}{event.detail}"
            if self._progress is not None:
                self._progress.console.print(Text(printable(line)))
            else:
                note(line)
            return
        if self._live:
            self._update_bar(event)
        elif time.monotonic() - self._last_line > 5 or event.done == event.total:
            self._last_line = time.monotonic()
            note(f"{self.label}: {event.done:,}/{event.total:,} {self.unit}")

    def _update_bar(self, event: ProgressEvent) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        if self._progress is None:
            self._progress = Progress(
                TextColumn(printable(self.label), style="bold", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(printable(self.label), total=event.total)
        self._progress.update(self._task, completed=event.done, total=event.total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


# -- the project ----------------------------------------------------------------


def print_info(info: dict[str, Any]) -> None:
    table = Table(title=Text(printable(info["project"])), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, label in (
        ("images", "images"),
        ("files", "files"),
        ("errors", "import errors"),
        ("tags", "tags"),
        ("clusterings", "clusterings"),
    ):
        table.add_row(label, str(info[key]))
    table.add_row("size", f"{info['size_bytes'] / 1e6:.1f} MB")
    for model in info["models"] or [None]:
        if model is None:
            table.add_row("vectors", "none yet")
            continue
        name = model_label(
            model["embedder"], model["name"], model["pretrained"], model["precision"]
        )
        if model["weights_hash"]:
            name += f" #{model['weights_hash'][:8]}"
        table.add_row(
            f"model {model['id']}", Text(f"{printable(name)}: {model['vectors']} vectors")
        )
    stdout.print(table)


def print_errors(errors: list[dict[str, str]]) -> None:
    if not errors:
        say("No import errors.")
    for error in errors:
        say(f"{printable(error['path'])}\n  {printable(error['reason'])}")


def print_models(
    known: list[dict[str, Any]], project: Path, in_project: list[dict[str, Any]]
) -> None:
    table = Table(title="Models", title_justify="left")
    for column in ("embedder", "model", "pretrained", "weights here"):
        table.add_column(column)
    for m in known:
        where = (
            Text(printable(m["location"]), style="green")
            if m["location"]
            else Text("not found", style="red")
        )
        label = f"{m['model']} ({m['note']})" if m["note"] else m["model"]
        table.add_row(
            Text(printable(m["embedder"])),
            Text(printable(label)),
            Text(printable(m["pretrained"] or "")),
            where,
        )
    stdout.print(table)
    if in_project:
        say(f"Vectors in {printable(str(project))}:")
        for m in in_project:
            tag = f"/{m['pretrained']}" if m["pretrained"] else ""
            say(
                printable(
                    f"  {m['embedder']}:{m['name']}{tag} ({m['precision']}, {m['dim']}-d): "
                    f"{m['vectors']} vectors"
                )
            )


# -- search -----------------------------------------------------------------------


def print_search(result: dict[str, Any]) -> None:
    hits = result["results"]
    say(
        f"{len(hits)} results for {printable(result['query'])} · {printable(result['model'])} · "
        f"{result['index']} index over {result['vectors']:,} vectors · "
        f"{result['seconds'] * 1000:.0f} ms",
        style="bold",
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("similarity", justify="right")
    table.add_column("id", justify="right", style="dim")
    table.add_column("path", overflow="fold")
    for rank, hit in enumerate(hits, 1):
        paths = hit["paths"]
        more = f"  (+{len(paths) - 1} more)" if len(paths) > 1 else ""
        path = printable(paths[0]) if paths else "(no file)"
        table.add_row(
            str(rank), f"{hit['similarity']:.4f}", str(hit["image_id"]), Text(path + more)
        )
    stdout.print(table)


def print_index_status(rows: list[dict[str, Any]]) -> None:
    if not rows:
        say("No vectors yet: `planche embed` makes them.")
    for row in rows:
        say(f"{row['id']}  {printable(row['label'])} · {count(row['vectors'], 'vector')} · "
            f"graph: {printable(row['graph'])}")  # fmt: skip


def print_index_built(result: dict[str, Any]) -> None:
    say(f"Built the graph of {printable(result['model'])}: {result['vectors']:,} vectors "
        f"in {result['seconds']} s", style="bold")  # fmt: skip
    say(f"  {result['graph_nodes']:,} graph nodes in {len(result['levels'])} level(s), "
        f"{result['exact_list']:,} searched exactly beside them, "
        f"{result['sharing_a_node']:,} images sharing a node with an identical one")  # fmt: skip


# -- clusterings ------------------------------------------------------------------


def _shown_params(params: dict[str, Any]) -> str:
    return printable(" ".join(f"{k}={v}" for k, v in params.items()))


def print_cluster_summary(summary: dict[str, Any]) -> None:
    say(
        f"Clustering {summary['clustering_id']}: {summary['strategy']} "
        f"{_shown_params(summary['params'])} over {count(summary['images'], 'image')} "
        f"({printable(summary['scope'])}) · {printable(summary['model'])} · "
        f"{summary['seconds']:.1f} s",
        style="bold",
    )
    print_clusters([c | {"id": None, "children": []} for c in summary["clusters"]], "  ")
    for note in summary["notes"]:
        say(f"  note: {printable(note)}", style="yellow")


def print_clustering_tree(tree: list[dict[str, Any]]) -> None:
    if not tree:
        say("No clusterings yet: `planche cluster` makes one.")
    for node in tree:
        print_clustering(node, "")


def print_clusters(clusters: list[dict[str, Any]], indent: str) -> None:
    for c in clusters:
        line = Text(indent)
        line.append(f"{c['idx']:>3}  ", style="bold")
        line.append(f"{count(c['size'], 'image'):>11}  ")
        shown = "  -  " if c["score"] is None else f"{c['score']:5.1f}"
        line.append(f"score {shown}", style=score_colour(c["score"]))
        line.append(f"  {printable(c['label'] or '')}")
        ids = f"medoid {c['medoid']}" + (f", cluster id {c['id']}" if c["id"] else "")
        line.append(f"  ({ids})", style="dim")
        stdout.print(line)
        for child in c["children"]:
            print_clustering(child, indent + "       ")


def print_clustering(node: dict[str, Any], indent: str) -> None:
    say(
        f"{indent}clustering {node['id']}: {node['strategy']} {_shown_params(node['params'])} · "
        f"{printable(node['model'])} · {count(node['images'], 'image')} · {node['created_at']}",
        style="bold",
    )
    print_clusters(node["clusters"], indent + "  ")


# -- tags -------------------------------------------------------------------------


def print_tags(listing: list[dict[str, Any]]) -> None:
    for prop in listing:
        say(printable(prop["property"]), style="bold")
        children: dict[int | None, list[dict[str, Any]]] = {}
        for tag in prop["tags"]:
            children.setdefault(tag["parent"], []).append(tag)
        _print_tag_tree(children, None, 1)
    if not listing:
        say("No tags yet.")


def _print_tag_tree(
    children: dict[int | None, list[dict[str, Any]]], parent: int | None, depth: int
) -> None:
    for tag in children.get(parent, []):
        say(f"{'  ' * depth}{printable(tag['name'])}  ({count(tag['images'], 'image')})")
        _print_tag_tree(children, tag["id"], depth + 1)


# -- the journal ------------------------------------------------------------------


def print_history(entries: list[dict[str, Any]]) -> None:
    for e in entries:
        status = {"done": "", "undone": "  (undone)", "error": "  (failed)"}.get(e["status"], "")
        shown = json.dumps(e["params"], ensure_ascii=False, default=str)
        if len(shown) > 90:
            shown = shown[:89] + "…"
        say(f"{e['seq']:>4}  {e['at']}  {e['command']:<18} {printable(shown)}{status}")
    if not entries:
        say("The journal is empty.")
