"""`planche properties`, `set`, `images`, `export` and `import-csv`: typed
properties, the filter language, and tables in and out."""

from __future__ import annotations

import argparse
import os
from datetime import datetime, time
from pathlib import Path
from typing import Any

from rich.table import Table

from planche.core import read
from planche.core.errors import BadParameter
from planche.core.text import count, printable
from planche.tui.cli.common import add_command, run_command
from planche.tui.cli.output import emit, say, stdout

FILTER_EPILOG = read.FILTER_HELP.split("\n\n", 1)[1].split("Everything is turned")[0]


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    props = add_command(
        subparsers, common, "properties", run_properties,
        help="list properties (typed, tag, built-in); add or delete them",
        description="Without options, list every property with its type and how many images "
        "have a value. --add NAME:TYPE makes one (types: " + ", ".join(read.PROPERTY_TYPES)
        + ").",
    )  # fmt: skip
    props.add_argument("--add", action="append", default=[], metavar="NAME:TYPE")
    props.add_argument("--delete", metavar="NAME", help="delete a property and its values")

    setter = add_command(
        subparsers, common, "set", run_set,
        help="set a typed property on images chosen by a filter or by id",
        description="Set PROPERTY to VALUE on the images passing --where (or given by --images). "
        'An empty VALUE ("") removes it. `planche undo` takes it back.',
        epilog=FILTER_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    setter.add_argument("property")
    setter.add_argument("value")
    _add_scope_options(setter)

    images = add_command(
        subparsers, common, "images", run_images,
        help="list images passing a filter, sorted and grouped by any property",
        epilog=FILTER_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    images.add_argument("--where", default="", metavar="FILTER", help="the filter (see below)")
    images.add_argument("--sort", default="", metavar="KEYS",
                        help="properties to sort by, comma-separated, -NAME down")  # fmt: skip
    images.add_argument("--group-by", default="", metavar="PROPERTY",
                        help="sections by a property, or cluster:CLUSTERING_ID")  # fmt: skip
    images.add_argument("--show", default="", metavar="NAMES",
                        help="properties to show beside each path, comma-separated")  # fmt: skip
    images.add_argument("--limit", type=int, default=None, help="at most this many rows")
    images.add_argument("--view", metavar="NAME", help="a saved view (the options above add to it)")
    images.add_argument("--save", metavar="NAME", help="save this filter, sort and grouping")

    export = add_command(
        subparsers, common, "export", run_export,
        help="write one row per file with every property and tag to CSV or JSON lines",
        description="Columns: path, sha256, folder, name, size, width, height, format, taken, "
        "modified, imported, then NAME:TYPE for each property (tags as paths separated by "
        "'; '), then cluster:ID for each --clusterings. `planche import-csv` reads it back.",
    )  # fmt: skip
    export.add_argument("out", type=Path, metavar="FILE")
    export.add_argument("--format", choices=("csv", "jsonl"), default=None,
                        help="default: from the file's extension, else csv")  # fmt: skip
    export.add_argument("--where", default="", metavar="FILTER", help="only these images")
    export.add_argument("--clusterings", default="", metavar="IDS",
                        help="add a column per clustering: each file's cluster")  # fmt: skip

    importer = add_command(
        subparsers, common, "import-csv", run_import_csv,
        help="set properties and tags from a CSV, matched by path or sha256",
        description="Columns named NAME:TYPE (or NAME, for an existing property or with "
        "--type) set that property on the image of each row; empty cells remove the value; "
        "built-in columns are skipped. A value of the wrong type or a path given twice "
        "refuses the whole file; rows matching no image are listed.",
    )  # fmt: skip
    importer.add_argument("file", type=Path, metavar="FILE")
    importer.add_argument("--match", choices=("path", "sha256"), default="path")
    importer.add_argument("--type", action="append", default=[], metavar="NAME=TYPE",
                          help="the type of a new property whose header has none")  # fmt: skip
    importer.add_argument("--dry-run", action="store_true", help="say what would be set")
    _add_suggest_parser(subparsers, common)


def _add_suggest_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    suggest = add_command(
        subparsers, common, "suggest", run_suggest,
        help="images without a tag most like those with it; accept or refuse them",
        description="List the images most like a tag's images (and, where the model has a "
        "text tower, like its name), best first with their score. --accept tags the given "
        "ones; --refuse means they are never suggested for this tag again (undoable).",
    )  # fmt: skip
    suggest.add_argument("tag", metavar="TAG", help="PROPERTY/TAG[/TAG...] or a tag id")
    suggest.add_argument("-k", type=int, default=20, help="how many (default: 20)")
    suggest.add_argument("--accept", metavar="IDS", help="tag these image ids")
    suggest.add_argument("--refuse", metavar="IDS", help="never suggest these image ids again")
    suggest.add_argument("--no-name", action="store_true", help="from the images only")
    suggest.add_argument("--with-parents", action="store_true",
                         help="the tag's name with its parents' (animal cat)")  # fmt: skip


def _add_scope_options(sub: argparse.ArgumentParser) -> None:
    scope = sub.add_mutually_exclusive_group(required=True)
    scope.add_argument("--where", metavar="FILTER", help="the images passing this filter")
    scope.add_argument("--images", metavar="IDS", help="image ids, comma-separated")


def _ids(text: str, name: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadParameter(name, text, "ids separated by commas, e.g. 3,7,12") from None


def run_suggest(args: argparse.Namespace) -> int:
    tag_id = read.tag_id_for(args.project, args.tag)
    if args.accept:
        path = read.tag_path(args.project, tag_id)
        accepted = {"property": path[0], "path": list(path[1:]),
                    "images": _ids(args.accept, "accept")}  # fmt: skip
        run_command(args, "tag", accepted, label="suggest")
    if args.refuse:
        run_command(args, "refuse_suggestions", {"tag_id": tag_id,
                                                 "images": _ids(args.refuse, "refuse")},
                    label="suggest")  # fmt: skip
    params = {"tag_id": tag_id, "k": args.k, "use_name": not args.no_name,
              "with_parents": args.with_parents}  # fmt: skip
    found = run_command(args, "suggest_tag", params, label="suggest")
    emit(args, found, text=lambda: _print_suggestions(found))
    return 0


def _print_suggestions(found: dict[str, Any]) -> None:
    source = [f"{count(found['from_images'], 'image')} of the tag"]
    if found["from_name"]:
        source.append(repr(found["from_name"]))
    say(f"Like {printable(found['tag'])} ({' and '.join(source)}; {printable(found['model'])}); "
        f"{found['refused']} refused before:")  # fmt: skip
    for hit in found["suggestions"]:
        where = printable(hit["paths"][0]) if hit["paths"] else ""
        say(f"  {hit['image_id']:>7}  {hit['score']:.3f}  {where}")
    if not found["suggestions"]:
        say("  (nothing left to suggest)")


def run_properties(args: argparse.Namespace) -> int:
    for spec in args.add:
        name, sep, kind = spec.rpartition(":")
        if not sep:
            raise BadParameter("add", spec, "NAME:TYPE, e.g. Rating:number (types: "
                               + ", ".join(read.PROPERTY_TYPES) + ")")  # fmt: skip
        run_command(args, "add_property", {"name": name, "type": kind.strip().lower()},
                    label="properties")  # fmt: skip
    if args.delete:
        run_command(args, "delete_property", {"name": args.delete}, label="properties")
    listing = read.properties(args.project)
    emit(args, listing, text=lambda: _print_properties(listing))
    return 0


def _print_properties(listing: dict[str, Any]) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("property", "type", "images"):
        table.add_column(column, justify="right" if column == "images" else "left")
    for row in listing["properties"]:
        table.add_row(printable(row["name"]), row["type"], f"{row['images']:,}")
    if listing["properties"]:
        stdout.print(table)
    else:
        say("No properties yet: `planche properties --add Rating:number` makes one.")
    names = ", ".join(b["name"] for b in listing["builtin"])
    say(f"Built in (read-only): {names}.", style="dim")


def run_set(args: argparse.Namespace) -> int:
    if args.images is not None:
        ids = _ids(args.images, "images")
    else:
        ids = read.list_images(args.project, args.where).ids.tolist()
    if not ids:
        raise BadParameter("where", args.where, "a filter that some image passes (none does)")
    done = run_command(args, "set_property",
                       {"property": args.property, "value": args.value, "images": ids},
                       label="set")  # fmt: skip
    verb = "removed from" if not args.value.strip() else f"set to '{printable(args.value)}' on"
    emit(args, done, text=lambda: say(f"{printable(args.property)} {verb} "
                                      f"{count(done['set'], 'image')} (`planche undo` takes it "
                                      "back)."))  # fmt: skip
    return 0


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _apply_saved_view(args: argparse.Namespace) -> None:
    """--view NAME fills what --where, --sort and --group-by leave empty; --save NAME
    keeps the result (undoable)."""
    if args.view:
        views = read.saved_views(args.project)
        if args.view not in views:
            raise BadParameter("view", args.view, "a saved view: " + (", ".join(views) or
                               "none yet (save one with --save NAME)"))  # fmt: skip
        saved = views[args.view]
        args.where = args.where or saved["where"]
        args.sort = args.sort or saved["sort"]
        args.group_by = args.group_by or saved["group"]
    if args.save:
        run_command(args, "save_view", {"name": args.save, "where": args.where,
                                        "sort": args.sort, "group": args.group_by},
                    label="images")  # fmt: skip


def run_images(args: argparse.Namespace) -> int:
    _apply_saved_view(args)
    shown = _names(args.show)
    sort_names = [n.lstrip("-") for n in _names(args.sort)]
    group = args.group_by.strip()
    columns = ["path", *dict.fromkeys(shown + sort_names)]
    listing = read.list_images(args.project, args.where, args.sort, group, columns=columns)
    rows = _rows(listing, columns, args.limit)
    if args.json:
        result: dict[str, Any] = {"images": len(listing.ids), "rows": rows}
        if listing.groups is not None:
            result["groups"] = [{"group": label, "images": ids.tolist()}
                                for label, ids in listing.groups]  # fmt: skip
        emit(args, result, text=lambda: None)
        return 0
    _print_listing(listing, rows, columns)
    return 0


def _rows(listing: read.Listing, columns: list[str], limit: int | None) -> list[dict[str, Any]]:
    """One row per image (per image and section when grouped), as JSON values."""
    ids = _row_ids(listing)
    rows = []
    for index, image_id in enumerate(ids[: limit if limit is not None else None]):
        row = {"image_id": image_id}
        for name in columns:
            row[name] = listing.columns[name][index]
        rows.append(row)
    return rows


def _row_ids(listing: read.Listing) -> list[int]:
    if listing.groups is None:
        return listing.ids.tolist()
    return [int(i) for _, ids in listing.groups for i in ids]


def _print_listing(listing: read.Listing, rows: list[dict[str, Any]], columns: list[str]) -> None:
    extra = [c for c in columns if c != "path"]
    sections = listing.groups or [("", listing.ids)]
    position = 0
    for label, ids in sections:
        if listing.groups is not None and position < len(rows):
            say(f"{printable(label)} ({count(len(ids), 'image')})", style="bold")
        for _ in ids:
            if position >= len(rows):
                break
            row = rows[position]
            position += 1
            values = "  ".join(f"{c}={_shown(row[c])}" for c in extra)
            indent = "  " if listing.groups is not None else ""
            say(f"{indent}{printable(str(row['path'] or ''))}" + (f"  {values}" if values else ""))
    if position < sum(len(ids) for _, ids in sections):
        say(f"... {count(len(listing.ids), 'image')} in all (--limit).", style="dim")
    elif not rows:
        say("No image passes this filter.")


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d" if value.time() == time() else "%Y-%m-%d %H:%M:%S")
    return printable(str(value))


def run_export(args: argparse.Namespace) -> int:
    file_format = args.format or ("jsonl" if args.out.suffix.lower() in (".jsonl", ".json")
                                  else "csv")  # fmt: skip
    clusterings = _ids(args.clusterings, "clusterings")
    result = read.export_table(args.project, args.out, file_format, args.where, clusterings)
    emit(args, result, text=lambda: say(
        f"Wrote {count(result['rows'], 'row')} of {result['columns']} columns to "
        f"{printable(os.fspath(args.out))}."))  # fmt: skip
    return 0


def _types(items: list[str]) -> dict[str, str]:
    types = {}
    for item in items:
        name, sep, kind = item.partition("=")
        if not sep or not name.strip():
            raise BadParameter("type", item, "NAME=TYPE, e.g. Notes=text")
        types[name.strip()] = kind.strip().lower()
    return types


def run_import_csv(args: argparse.Namespace) -> int:
    types = _types(args.type)
    params = {"file": os.fspath(args.file), "match": args.match, "types": types}
    if args.dry_run:
        report = read.plan_table(args.project, args.file, args.match, types)
    else:
        report = run_command(args, "import_table", params, label="import-csv", unit="rows")
    emit(args, report, text=lambda: _print_table_report(report))
    return 0


def _print_table_report(report: dict[str, Any]) -> None:
    doing = "Set" if report["applied"] else "Would set (dry run, nothing written)"
    say(f"{printable(report['file'])}: {count(report['rows'], 'row')}, "
        f"{report['matched']:,} matched by {report['match']}.")  # fmt: skip
    for column in report["columns"]:
        new = " (new property)" if column["new"] else ""
        say(f"  {doing}: {printable(column['property'])} ({column['type']}){new} on "
            f"{count(column['values'], 'image')}")  # fmt: skip
    if report["skipped_columns"]:
        say("  Skipped (built in, read-only): " + ", ".join(
            printable(c) for c in report["skipped_columns"]), style="dim")  # fmt: skip
    if report["unmatched"]:
        lines = ", ".join(map(str, report["unmatched_lines"]))
        more = ", ..." if report["unmatched"] > len(report["unmatched_lines"]) else ""
        say(f"  {count(report['unmatched'], 'row')} matched no image (lines {lines}{more}).",
            style="yellow")  # fmt: skip
