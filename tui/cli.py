"""The `planche` command line.

Every subcommand takes `--project PATH` and `--json`. With `--json` the result
is one JSON document on stdout and progress goes to stderr, so scripts can pipe
it. Errors meant for the user (`PlancheError`) print one line and exit with a
non-zero status; they never show a traceback.

This module imports only core and Rich at start-up: `planche info` must stay
fast, and the Textual app is loaded only by the subcommand that opens it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from planche.core import commands, ingest
from planche.core.embedders import EMBEDDERS, Embedder, WeightsUnavailable, load_embedder
from planche.core.errors import BadParameter, Cancelled, PlancheError
from planche.core.index import HNSW_THRESHOLD, INDEX_KINDS
from planche.core.progress import CancelToken
from planche.core.project import project_info
from planche.core.store import open_store
from planche.core.text import count, printable
from planche.tui.cli_output import (
    ProgressReporter,
    print_clustering,
    print_clusters,
    print_embed,
    print_import,
    print_info,
    print_tag_tree,
    stderr,
    stdout,
)
from planche.tui.images import MODES

DEFAULT_PROJECT = "planche.duckdb"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _command_names(parser)
    if not argv and Path(os.environ.get("PLANCHE_PROJECT", DEFAULT_PROJECT)).exists():
        argv = ["open"]
    elif argv and argv[0] not in commands and argv[0] not in ("-h", "--help", "--version"):
        argv = ["open", *argv]  # `planche PROJECT_OR_FOLDER [--images M]` opens the app
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except BrokenPipeError:
        # `planche info --json | head -1`: the reader left, which is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Cancelled as exc:
        return _fail(args, str(exc), exc.exit_code, style="yellow")
    except PlancheError as exc:
        return _fail(args, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130, style="yellow")
    except Exception as exc:  # a bug: say so in one line unless asked for the traceback
        if os.environ.get("PLANCHE_DEBUG"):
            raise
        message = (
            f"internal error: {type(exc).__name__}: {exc}\n"
            "Run again with PLANCHE_DEBUG=1 for the traceback, and please report it."
        )
        return _fail(args, message, 1)


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _run_open(args: argparse.Namespace) -> int:
    from planche.tui.app import run_app

    target = (args.target or args.project).expanduser()
    import_folder = None
    if target.is_dir():
        # A folder that is not a project yet: it gets one inside, hidden, and
        # the app opens by importing it.
        project = target / ".planche.duckdb"
        import_folder = None if project.exists() else target
    else:
        project = target
        if not project.exists():
            raise PlancheError(
                f"no project at {project}: open a folder of images to create one "
                f"(`planche ~/Pictures`), or `planche import FOLDER --project {project}`"
            )
    run_app(project.absolute(), images=args.images, import_folder=import_folder)
    return 0


def _fail(args: argparse.Namespace, message: str, code: int, style: str = "red") -> int:
    """One readable message on stderr; with --json, the same as a JSON object on stdout."""
    shown = "\n".join(printable(line) for line in message.splitlines())
    stderr.print(Text(f"planche: {shown}", style=style))
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code}))
    return code


@contextmanager
def _stop_on_ctrl_c(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl-C: finish the batch in hand and stop cleanly. Second: stop now."""

    def first(_signum: int, _frame: object) -> None:
        cancel.cancel()
        stderr.print(
            "planche: stopping after the current batch (Ctrl-C again to stop at once)",
            style="yellow",
        )
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project",
        type=Path,
        default=Path(os.environ.get("PLANCHE_PROJECT", DEFAULT_PROJECT)),
        metavar="PATH",
        help="the project file (default: $PLANCHE_PROJECT or ./%(default)s)",
    )
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser = argparse.ArgumentParser(
        prog="planche",
        description="Explore large image collections by meaning, from the terminal.",
        epilog="Run `planche COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"planche {version('planche')}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    app = commands.add_parser(
        "open",
        parents=[common],
        help="open the app on a project or a folder (also: planche PATH)",
        description="Open the planche app. PATH is a project file, or a folder of images: "
        "a folder gets a project inside it (.planche.duckdb), imported with a progress bar.",
    )
    app.add_argument("target", nargs="?", type=Path, metavar="PATH",
                     help="project file or folder (default: --project)")  # fmt: skip
    app.add_argument("--images", choices=MODES,
                     default="auto", help="how the preview draws pictures (default: auto); "
                     "the grid always uses half-cells")  # fmt: skip
    app.set_defaults(run=_run_open)

    imp = commands.add_parser(
        "import",
        parents=[common],
        help="import a folder of images into a project",
        description="Import every image under FOLDER (recursively) into the project, "
        "creating it if needed. Files already imported and unchanged are skipped; bad "
        "files are listed with their reason and the rest is imported. Ctrl-C stops "
        "cleanly: run the same command again to continue.",
    )
    imp.add_argument("folder", type=Path, metavar="FOLDER", help="the folder to import")
    imp.add_argument(
        "--prune",
        action="store_true",
        help="forget files under FOLDER that are gone from disk (and images left without a "
        "file, with their tags and vectors); without it they are only counted",
    )
    _add_import_options(imp)
    _add_embedder_options(imp, choices=(*EMBEDDERS, "none"), default="clip")
    imp.set_defaults(run=_run_import)

    emb = commands.add_parser(
        "embed",
        parents=[common],
        help="give every image of a project a vector from a model",
        description="Embed the images that have no vector yet for the chosen model "
        "(several models can live in one project). Interrupted runs continue where "
        "they stopped.",
    )
    _add_embedder_options(emb, choices=EMBEDDERS, default="clip")
    emb.add_argument("--workers", type=int, default=None, help="decoding threads")
    emb.set_defaults(run=_run_embed)

    find = commands.add_parser(
        "search",
        parents=[common],
        help="find images by text, by image, or both",
        description="Find the images nearest to a query. Terms add up: --text and --image "
        "pull towards, --minus-text and --minus-image push away (each may be repeated). "
        "An image is an image id, a file of the project or any image file. Similarity is "
        "the cosine, as computed.",
    )
    find.add_argument("--text", action="append", default=[], help="a phrase to look for")
    find.add_argument("--minus-text", action="append", default=[], help="a phrase to avoid")
    find.add_argument("--image", action="append", default=[], help="an image to look like")
    find.add_argument("--minus-image", action="append", default=[], help="an image to avoid")
    find.add_argument("-k", "--k", type=int, default=20, help="how many results (default 20)")
    find.add_argument(
        "--embedder", choices=EMBEDDERS, help="search these vectors (default: CLIP if present)"
    )
    find.add_argument("--model-id", type=int, help="search the vectors of this model id")
    find.add_argument(
        "--index",
        choices=INDEX_KINDS,
        default="auto",
        help="exact: one matrix product; hnsw: the approximate index cached beside the "
        f"project; auto: exact below {HNSW_THRESHOLD:,} vectors (default)",
    )
    find.add_argument("--exact", action="store_true", help="same as --index exact")
    find.add_argument("--weights", type=Path, help="the model's weights, if they have moved")
    find.set_defaults(run=_run_search)

    _add_clustering_commands(commands, common)
    _add_journal_commands(commands, common)

    models = commands.add_parser(
        "models",
        parents=[common],
        help="list the models known and which have weights on this machine",
        description="The pixels embedder, the default CLIP model and every CLIP release "
        "found in the local caches, with where its weights are; with --project, also the "
        "models that project holds vectors for.",
    )
    models.add_argument(
        "--all", action="store_true", help="list every released CLIP model, found or not"
    )
    models.set_defaults(run=_run_models)

    info = commands.add_parser(
        "info",
        parents=[common],
        help="show what a project holds",
        description="Counts of images, files, import errors, models and clusterings.",
    )
    info.set_defaults(run=_run_info)

    errors = commands.add_parser(
        "errors",
        parents=[common],
        help="list the files that could not be imported, with the reason",
        description="List every file recorded as failed, with the reason.",
    )
    errors.set_defaults(run=_run_errors)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="build the demo folder from bundled photos and import it",
        description="Write a demo folder of real photos (shipped inside scikit-image and "
        "scikit-learn; see its SOURCES.md), with a few near-duplicates and bad files, "
        "import it and summarise the project.",
    )
    demo.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="where to write the demo images (default: demo-images beside the project)",
    )
    _add_import_options(demo)
    _add_embedder_options(demo, choices=(*EMBEDDERS, "auto"), default="auto")
    demo.set_defaults(run=_run_demo)
    return parser


def _add_import_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads reading and decoding files (default: cores + 1, at most 8)",
    )
    sub.add_argument(
        "--max-pixels",
        type=int,
        default=ingest.DEFAULT_MAX_PIXELS,
        help="refuse images that declare more pixels than this, as possible decompression "
        f"bombs (default: {ingest.DEFAULT_MAX_PIXELS:,}, about 179 megapixels)",
    )


def _add_clustering_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    from planche.core.cluster import STRATEGIES, get_strategy

    lines = ["strategies and their parameters (--param NAME=VALUE):"]
    for name in sorted(STRATEGIES):
        strategy = get_strategy(name)
        lines.append(f"  {name}: {strategy.description}")
        for p in strategy.params:
            default = "required" if p.required else f"default {p.default}"
            lines.append(f"      {p.name}: {p.help}; {p.allowed()}; {default}")
    run = commands.add_parser(
        "cluster",
        parents=[common],
        help="group the images with a strategy (kmeans, density, duplicates, by_tags)",
        description="Cluster every image (or the members of one cluster, --within) with a "
        "strategy and store the result. Each cluster gets a size, a score from 0 to 100 "
        "(lower is more coherent), a medoid image and, where the model has a text tower, a "
        "label.",
        epilog="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--strategy", default="kmeans", choices=sorted(STRATEGIES),
                     help="default: kmeans")  # fmt: skip
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a strategy parameter (repeatable)")  # fmt: skip
    run.add_argument("--within", type=int, metavar="CLUSTER",
                     help="cluster the members of this cluster id again")  # fmt: skip
    run.add_argument("--embedder", choices=EMBEDDERS, help="cluster these vectors")
    run.add_argument("--model-id", type=int, help="cluster the vectors of this model id")
    run.add_argument("--weights", type=Path, help="the model's weights, if they have moved")
    run.add_argument("--no-labels", action="store_true", help="skip zero-shot labels")
    run.set_defaults(run=_run_cluster)

    tree = commands.add_parser(
        "clusters", parents=[common], help="show the clusterings: a tree with sizes, scores, labels"
    )
    tree.set_defaults(run=_run_clusters)

    delete = commands.add_parser(
        "delete-clustering", parents=[common], help="delete a clustering and those nested in it"
    )
    delete.add_argument("clustering", type=int, metavar="CLUSTERING")
    delete.set_defaults(run=_run_delete_clustering)

    save = commands.add_parser(
        "save-clustering",
        parents=[common],
        help="save a clustering as hierarchical tags",
        description="Write a tag property whose tags mirror the clustering's tree "
        '("3 tabby cat", nested clusterings under their cluster). Undo with '
        "`planche tags --delete-property NAME`.",
    )
    save.add_argument("clustering", type=int, metavar="CLUSTERING")
    save.add_argument("--as", dest="name", default="Clustering", help="property name")
    save.add_argument("--replace", action="store_true", help="replace a property of that name")
    save.set_defaults(run=_run_save_clustering)

    tags = commands.add_parser(
        "tags",
        parents=[common],
        help="list tag properties and tags; add or delete them",
        description="Without options, list every property with its tag tree. --add "
        '"Property/parent/child" creates the tags along the path.',
    )
    tags.add_argument("--add", action="append", default=[], metavar="PROPERTY/TAG[/TAG...]")
    tags.add_argument("--delete-property", metavar="NAME")
    tags.set_defaults(run=_run_tags)


def _run_command(
    args: argparse.Namespace,
    name: str,
    params: dict[str, Any],
    *,
    label: str,
    unit: str = "files",
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Run one command through the journaled command layer, with progress and Ctrl-C."""
    reporter = ProgressReporter(label=label, unit=unit)
    context = commands.Context(progress=reporter, embedder=embedder)
    try:
        with _stop_on_ctrl_c(context.cancel):
            return commands.run(args.project, name, params, context)
    finally:
        reporter.close()


def _add_journal_commands(commands_: Any, common: argparse.ArgumentParser) -> None:
    hist = commands_.add_parser(
        "history",
        parents=[common],
        help="show the journal of commands; --export writes a replay script",
        description="Every command run on the project, in order, with its outcome. "
        "--export FILE writes the commands still in effect as a replay script (JSON lines; "
        "images are named by content hash and clusterings by the step that made them, so "
        "the script replays on a fresh import of the same folder).",
    )
    hist.add_argument("--export", type=Path, metavar="FILE", help="write a replay script")
    hist.set_defaults(run=_run_history)
    for name, text in (("undo", "undo the last change to tags or clusterings"),
                       ("redo", "redo what undo took back")):  # fmt: skip
        sub = commands_.add_parser(name, parents=[common], help=text, description=text + ".")
        sub.set_defaults(run=_run_undo if name == "undo" else _run_redo)
    rep = commands_.add_parser(
        "replay",
        parents=[common],
        help="run a replay script, headless or in the app (with screenshots)",
        description="Run the steps of a script made by `planche history --export` (or "
        "written by hand) on the project, and report each step. With --app, drive the app "
        "through the same steps and save an SVG screenshot after each step that names one.",
    )
    rep.add_argument("script", type=Path, metavar="FILE")
    rep.add_argument("--app", action="store_true", help="drive the app (headless) instead")
    rep.add_argument("--screenshots", type=Path, metavar="DIR", help="where --app saves SVGs")
    rep.add_argument("--size", default="160x48", help="terminal size for --app (default 160x48)")
    rep.set_defaults(run=_run_replay)


def _run_history(args: argparse.Namespace) -> int:
    if args.export:
        steps = commands.export_script(args.project)
        commands.write_script(steps, args.export)
        if args.json:
            print(json.dumps({"exported": len(steps), "file": str(args.export)}))
        else:
            stdout.print(f"Wrote {count(len(steps), 'step')} to {printable(str(args.export))}.")
        return 0
    entries = commands.history(args.project)
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0
    for e in entries:
        status = {"done": "", "undone": "  (undone)", "error": "  (failed)"}.get(e["status"], "")
        shown = json.dumps(e["params"], ensure_ascii=False, default=str)
        if len(shown) > 90:
            shown = shown[:89] + "…"
        stdout.print(Text(f"{e['seq']:>4}  {e['at']}  {e['command']:<18} {printable(shown)}"
                          f"{status}"))  # fmt: skip
    if not entries:
        stdout.print("The journal is empty.")
    return 0


def _run_undo(args: argparse.Namespace) -> int:
    return _undo_redo(args, commands.undo(args.project), "undid", "Nothing to undo.")


def _run_redo(args: argparse.Namespace) -> int:
    return _undo_redo(args, commands.redo(args.project), "redid", "Nothing to redo.")


def _undo_redo(args: argparse.Namespace, entry: dict[str, Any] | None, verb: str,
               nothing: str) -> int:  # fmt: skip
    if args.json:
        print(json.dumps({verb: entry["seq"] if entry else None}))
    elif entry is None:
        stdout.print(nothing)
    else:
        stdout.print(f"{verb.capitalize()} {entry['command']} (journal entry {entry['seq']}).")
    return 0


def _run_replay(args: argparse.Namespace) -> int:
    steps = commands.read_script(args.script)
    if args.app:
        from planche.tui.replay_app import replay_in_app

        width, _, height = args.size.partition("x")
        if not (width.isdigit() and height.isdigit()):
            raise BadParameter("size", args.size, "WIDTHxHEIGHT, e.g. 160x48")
        shots = replay_in_app(args.project, steps, args.screenshots, (int(width), int(height)))
        for shot in shots:
            stdout.print(f"wrote {printable(str(shot))}")
        return 0
    report = []

    def on_step(step: dict[str, Any], outcome: dict[str, Any] | None) -> None:
        summary = _step_summary(step, outcome)
        report.append({"step": step["step"], "command": step["command"], "summary": summary})
        if not args.json:
            stdout.print(Text(f"step {step['step']:>3}  {step['command']:<18} {summary}"))

    reporter = ProgressReporter(label="replay")
    try:
        commands.replay(args.project, steps, context=commands.Context(progress=reporter),
                        on_step=on_step)  # fmt: skip
    finally:
        reporter.close()
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def _step_summary(step: dict[str, Any], outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "(app only: skipped)"
    name = step["command"]
    if name == "import":
        return f"{outcome['new']} new images, {len(outcome['failed'])} failed"
    if name == "cluster":
        return f"clustering {outcome['clustering_id']}: {len(outcome['clusters'])} clusters"
    if name == "search":
        return f"{len(outcome['results'])} results"
    if name == "tag":
        return f"{len(outcome['added'])} images tagged"
    return "done"


def _run_cluster(args: argparse.Namespace) -> int:
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BadParameter("param", item, "NAME=VALUE")
        if name.strip() in params:
            raise BadParameter(
                "param", item, f"each parameter once ({name.strip()} is given twice)"
            )
        params[name.strip()] = value
    summary = _run_command(
        args, "cluster",
        {"strategy": args.strategy, "params": params, "within": args.within,
         "embedder": args.embedder, "model_id": args.model_id,
         "weights": str(args.weights) if args.weights else None,
         "labels": not args.no_labels},
        label="cluster", unit="pairs compared",  # only duplicates counts its work
    )  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    shown = " ".join(f"{k}={v}" for k, v in summary["params"].items())
    stdout.print(
        Text(
            f"Clustering {summary['clustering_id']}: {summary['strategy']} {shown} over "
            f"{count(summary['images'], 'image')} ({summary['scope']}) · {summary['model']} · "
            f"{summary['seconds']:.1f} s",
            style="bold",
        )
    )
    print_clusters([c | {"id": None, "children": []} for c in summary["clusters"]], "  ")
    for note in summary["notes"]:
        stdout.print(Text(f"  note: {printable(note)}", style="yellow"))
    return 0


def _run_clusters(args: argparse.Namespace) -> int:
    from planche.core.clustering import clustering_tree

    tree = clustering_tree(args.project)
    if args.json:
        print(json.dumps(tree, indent=2))
        return 0
    if not tree:
        stdout.print("No clusterings yet: `planche cluster` makes one.")
    for node in tree:
        print_clustering(node, "")
    return 0


def _run_delete_clustering(args: argparse.Namespace) -> int:
    done = _run_command(args, "delete_clustering", {"clustering_id": args.clustering},
                        label="delete")  # fmt: skip
    if args.json:
        print(json.dumps({"deleted": done["deleted"]}))
    else:
        stdout.print(
            f"Deleted clustering(s) {', '.join(map(str, done['deleted']))} "
            "(`planche undo` brings them back)."
        )
    return 0


def _run_save_clustering(args: argparse.Namespace) -> int:
    saved = _run_command(
        args, "save_clustering",
        {"clustering_id": args.clustering, "name": args.name, "replace": args.replace},
        label="save",
    )  # fmt: skip
    if args.json:
        print(json.dumps({k: saved[k] for k in ("property", "tags", "clustering_id")}))
    else:
        stdout.print(
            f"Saved clustering {args.clustering} as {count(saved['tags'], 'tag')} of the property "
            f"{printable(saved['property'])!r} (`planche undo` takes them back)."
        )
    return 0


def _run_tags(args: argparse.Namespace) -> int:
    for spec in args.add:
        prop, *path = [part.strip() for part in spec.split("/")]
        if not prop or not path or not all(path):
            raise BadParameter("add", spec, "PROPERTY/TAG or PROPERTY/PARENT/TAG")
        _run_command(args, "tag", {"property": prop, "path": path, "images": []}, label="tag")
    if args.delete_property:
        _run_command(args, "delete_property", {"name": args.delete_property}, label="tags")
    with open_store(args.project, read_only=True) as store:
        listing = [
            {"property": name, "tags": [
                {"id": t, "parent": parent, "name": tag, "images": n}
                for t, parent, tag, n in store.tags(pid)
            ]}
            for pid, name in store.properties()
        ]  # fmt: skip
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for prop in listing:
        stdout.print(Text(printable(prop["property"]), style="bold"))
        children: dict[int | None, list[dict[str, Any]]] = {}
        for tag in prop["tags"]:
            children.setdefault(tag["parent"], []).append(tag)

        print_tag_tree(children, None, 1)
    if not listing:
        stdout.print("No tags yet.")
    return 0


def _add_embedder_options(
    sub: argparse.ArgumentParser, *, choices: tuple[str, ...], default: str
) -> None:
    group = sub.add_argument_group("embedding")
    extra = {
        "none": " none imports without embedding.",
        "auto": " auto uses CLIP when its weights are here, else says so and uses pixels.",
    }
    group.add_argument(
        "--embedder",
        choices=choices,
        default=default,
        help="clip: meaning, text search (default model ViT-B-32/openai); pixels: weight-free, "
        "near-duplicates only."
        + "".join(extra[c] for c in choices if c in extra)
        + " (default: %(default)s)",
    )
    group.add_argument("--model", help="open_clip model name, or hf-hub:ORG/REPO")
    group.add_argument("--pretrained", help="open_clip weights tag (default: openai)")
    group.add_argument(
        "--weights",
        type=Path,
        help="a local checkpoint (.safetensors/.bin/.pt) or a folder with open_clip_config.json",
    )
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    group.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16")
    group.add_argument("--batch-size", type=int, default=None, help="images per model call")


def _embedder_from_args(args: argparse.Namespace, name: str | None = None) -> Embedder:
    return load_embedder(
        name or args.embedder,
        model=args.model,
        pretrained=args.pretrained,
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
    )


def _run_embed(args: argparse.Namespace) -> int:
    project_info(args.project)  # a missing or unusable project is said before loading a model
    embedder = _embedder_from_args(args)
    summary = _run_command(args, "embed", {"embedder": args.embedder, "workers": args.workers},
                           label="embed", unit="images", embedder=embedder)  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_embed(summary)
    return 130 if summary["cancelled"] else 0


def _run_search(args: argparse.Namespace) -> int:
    result = _run_command(
        args, "search",
        {"texts": args.text, "minus_texts": args.minus_text, "images": args.image,
         "minus_images": args.minus_image, "k": args.k, "embedder": args.embedder,
         "model_id": args.model_id, "index": "exact" if args.exact else args.index,
         "weights": str(args.weights) if args.weights else None},
        label="index", unit="vectors",
    )  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    hits = result["results"]
    stdout.print(
        Text(
            f"{len(hits)} results for {printable(result['query'])} · {result['model']} · "
            f"{result['index']} index over {result['vectors']:,} vectors · "
            f"{result['seconds'] * 1000:.0f} ms",
            style="bold",
        )
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
        table.add_row(str(rank), f"{hit['similarity']:.4f}", str(hit["image_id"]), path + more)
    stdout.print(table)
    return 0


def _run_models(args: argparse.Namespace) -> int:
    from planche.core.embedders.catalogue import known_models

    models = known_models(every_release=args.all)
    in_project = []
    if args.project.exists():
        in_project = project_info(args.project)["models"]
    if args.json:
        print(json.dumps({"known": [m.as_dict() for m in models], "project": in_project},
                         indent=2))  # fmt: skip
        return 0
    table = Table(title="Models", title_justify="left")
    for column in ("embedder", "model", "pretrained", "weights here"):
        table.add_column(column)
    for m in models:
        where = Text(m.location, style="green") if m.location else Text("not found", style="red")
        label = f"{m.model} ({m.note})" if m.note else m.model
        table.add_row(m.embedder, label, m.pretrained or "", where)
    stdout.print(table)
    if in_project:
        stdout.print(f"Vectors in {printable(str(args.project))}:")
        for m in in_project:
            tag = f"/{m['pretrained']}" if m["pretrained"] else ""
            stdout.print(
                f"  {m['embedder']}:{m['name']}{tag} ({m['precision']}, {m['dim']}-d): "
                f"{m['vectors']} vectors"
            )
    return 0


# -- import ----------------------------------------------------------------


def _run_import(args: argparse.Namespace) -> int:
    if args.embedder == "none":
        for option in ("model", "pretrained", "weights", "batch_size"):
            if getattr(args, option) is not None:
                raise BadParameter(option, getattr(args, option), "nothing with --embedder none")
        embedder = None
    else:
        # Load the model first: missing weights stop us in seconds, not after
        # a long import.
        embedder = _embedder_from_args(args)
    summary = _import(args, args.folder, embedder)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_import(summary)
        if summary["embedding"]:
            print_embed(summary["embedding"], during_import=summary["embedded"])
    embedding = summary["embedding"] or {}
    return 130 if summary["cancelled"] or embedding.get("cancelled") else 0


def _import(args: argparse.Namespace, folder: Path, embedder: Embedder | None) -> dict[str, Any]:
    params = {
        "folder": str(folder.expanduser().absolute()),
        "embedder": embedder.identity.embedder if embedder else "none",
        "model": args.model, "pretrained": args.pretrained,
        "weights": str(args.weights) if args.weights else None,
        "workers": args.workers, "max_pixels": args.max_pixels,
        "prune": getattr(args, "prune", False),
    }  # fmt: skip
    return _run_command(args, "import", params, label="import", embedder=embedder)


# -- info and errors -------------------------------------------------------


def _run_info(args: argparse.Namespace) -> int:
    info = project_info(args.project)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print_info(info)
    return 0


def _run_errors(args: argparse.Namespace) -> int:
    with open_store(args.project, read_only=True) as store:
        errors = store.import_errors()
    if args.json:
        print(json.dumps([{"path": p, "reason": r} for p, r in errors], indent=2))
        return 0
    if not errors:
        stdout.print("No import errors.")
    for path, reason in errors:
        stdout.print(Text(f"{printable(path)}\n  {printable(reason)}"))
    return 0


# -- demo ------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from planche.core import demo

    project = args.project.expanduser().absolute()
    folder = (args.folder or project.parent / "demo-images").expanduser().absolute()
    if not folder.exists():
        made = demo.build_demo_folder(folder)
        if not args.json:
            stdout.print(
                f"Wrote the demo folder {printable(str(folder))}: {made.images} images from "
                f"{made.sources} photos, {made.near_duplicates} near-duplicates, "
                f"{made.bad_files} bad files (see SOURCES.md there)."
            )
    embedder = _demo_embedder(args)
    summary = _import(args, folder, embedder)
    embedded = summary.pop("embedding")
    if args.json:
        report = {"import": summary, "embedding": embedded, "project": project_info(project)}
        print(json.dumps(report, indent=2, default=str))
    else:
        print_import(summary)
        if embedded:
            print_embed(embedded, during_import=summary["embedded"])
        print_info(project_info(project))
    return 130 if summary["cancelled"] or (embedded or {}).get("cancelled") else 0


def _demo_embedder(args: argparse.Namespace) -> Embedder:
    if args.embedder != "auto":
        return _embedder_from_args(args)
    try:
        return _embedder_from_args(args, "clip")
    except WeightsUnavailable:
        stderr.print(
            Text(
                "CLIP weights are not on this machine and cannot be downloaded: this demo "
                "uses the pixels embedder (near-duplicates, no text search). "
                "Give --weights PATH to use CLIP.",
                style="yellow",
            )
        )
        return _embedder_from_args(args, "pixels")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
