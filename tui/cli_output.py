"""What the `planche` command line prints: summaries, tables and progress.

Text from outside (file names, labels, tag names) goes through `printable`
before it reaches the terminal. On a terminal long lines wrap between words;
into a pipe or a file they stay whole, so grep and scripts see one line per item.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from planche.core.clustering import score_colour
from planche.core.progress import ProgressEvent
from planche.core.store import model_label
from planche.core.text import count, printable

stdout = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
stderr = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())


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
    shown = " ".join(f"{k}={v}" for k, v in node["params"].items())
    stdout.print(
        Text(
            f"{indent}clustering {node['id']}: {node['strategy']} {shown} · {node['model']} · "
            f"{count(node['images'], 'image')} · {node['created_at']}",
            style="bold",
        )
    )
    print_clusters(node["clusters"], indent + "  ")


def print_tag_tree(
    children: dict[int | None, list[dict[str, Any]]], parent: int | None, depth: int
) -> None:
    for tag in children.get(parent, []):
        stdout.print(f"{'  ' * depth}{printable(tag['name'])}  ({count(tag['images'], 'image')})")
        print_tag_tree(children, tag["id"], depth + 1)


def print_embed(summary: dict[str, Any], during_import: int = 0) -> None:
    embedded = during_import + summary["embedded"]
    already = summary["already"] - during_import
    if embedded == 0 and not summary["failed"]:
        stdout.print(f"Every image already has a vector for {summary['model']}.")
        return
    line = f"Embedded {count(embedded, 'image')} with {summary['model']} on {summary['device']}"
    if during_import:
        line += ", while importing"
    else:
        line += f" in {summary['seconds']:.1f} s ({summary['images_per_s']:.0f} images/s)"
    if already:
        line += f"; {already} already had one"
    stdout.print(Text(line, style="bold"))
    if summary["cancelled"]:
        stdout.print("  stopped early: run again to continue", style="yellow")
    for failure in summary["failed"]:
        stdout.print(
            Text(
                f"  image {failure['image_id']} not embedded: {printable(failure['reason'])}",
                style="red",
            )  # fmt: skip
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
            stderr.print(f"{self.label}: the project is in use ({event.detail}); waiting for it")
            return
        if event.total == 0:
            return
        if event.total is None:
            if not self._live:
                doing = "scanning " if event.phase == "scan" else ""
                stderr.print(f"{self.label}: {doing}{printable(event.detail)}")
            return
        if self._live:
            self._update_bar(event)
        elif time.monotonic() - self._last_line > 5 or event.done == event.total:
            self._last_line = time.monotonic()
            stderr.print(f"{self.label}: {event.done:,}/{event.total:,} {self.unit}")

    def _update_bar(self, event: ProgressEvent) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        if self._progress is None:
            self._progress = Progress(
                f"[bold]{self.label}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=event.total)
        self._progress.update(self._task, completed=event.done, total=event.total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


FAILURES_SHOWN = 20


def print_import(summary: dict[str, Any]) -> None:
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
    stdout.print(Text(f"  {count(seen, 'file')}: " + ", ".join(parts)))
    if summary["failed_before"]:
        stdout.print(
            f"  {count(summary['failed_before'], 'file')} that failed before, unchanged since, "
            "not read again (`planche errors` lists them)"
        )
    if summary["missing"]:
        gone = count(summary["missing"], "file")
        if summary["pruned"]:
            stdout.print(f"  {gone} gone from disk: forgotten (--prune)")
        else:
            stdout.print(
                f"  {gone} gone from disk since an earlier import: kept in the project "
                "(--prune forgets them)"
            )
    if failed:
        stdout.print(Text("  Not imported:", style="bold red"))
        for item in failed[:FAILURES_SHOWN]:
            stdout.print(Text(f"    {printable(item['path'])}\n      {printable(item['reason'])}"))
        hidden = len(failed) - FAILURES_SHOWN
        if hidden > 0:
            stdout.print(f"    ... and {hidden} more (`planche errors` lists them all)")


def print_info(info: dict[str, Any]) -> None:
    table = Table(title=printable(info["project"]), show_header=False, title_justify="left")
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
        table.add_row(f"model {model['id']}", f"{name}: {model['vectors']} vectors")
    stdout.print(table)
