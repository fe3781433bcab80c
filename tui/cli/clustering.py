"""`planche cluster`, `clusters`, `delete-clustering` and `save-clustering`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from planche.core import read
from planche.core.errors import BadParameter
from planche.core.text import count, printable
from planche.tui.cli.common import EMBEDDERS, add_command, run_command
from planche.tui.cli.output import emit, print_cluster_summary, print_clustering_tree, say


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    run = add_command(
        subparsers,
        common,
        "cluster",
        run_cluster,
        help="group the images with a strategy (kmeans, density, duplicates, by_tags)",
        description="Cluster every image (or the members of one cluster, --within) with a "
        "strategy and store the result. Each cluster gets a size, a score from 0 to 100 "
        "(lower is more coherent), a medoid image and, where the model has a text tower, a "
        "label.",
        epilog=_strategies_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--strategy", default="kmeans", choices=sorted(read.STRATEGIES),
                     help="default: kmeans")  # fmt: skip
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a strategy parameter (repeatable)")  # fmt: skip
    run.add_argument("--within", type=int, metavar="CLUSTER",
                     help="cluster the members of this cluster id again")  # fmt: skip
    run.add_argument("--embedder", choices=EMBEDDERS, help="cluster these vectors")
    run.add_argument("--model-id", type=int, help="cluster the vectors of this model id")
    run.add_argument("--weights", type=Path, help="the model's weights, if they have moved")
    run.add_argument("--no-labels", action="store_true", help="skip zero-shot labels")

    clusters = add_command(subparsers, common, "clusters", run_clusters,
                           help="show the clusterings, or a cluster's members")  # fmt: skip
    clusters.add_argument("cluster", type=int, nargs="?", metavar="CLUSTER",
                          help="with --members: list this cluster's images")  # fmt: skip
    clusters.add_argument("--members", action="store_true",
                          help="list the members of CLUSTER with their paths")  # fmt: skip
    delete = add_command(subparsers, common, "delete-clustering", run_delete_clustering,
                         help="delete a clustering and those nested in it")  # fmt: skip
    delete.add_argument("clustering", type=int, metavar="CLUSTERING")

    save = add_command(
        subparsers,
        common,
        "save-clustering",
        run_save_clustering,
        help="save a clustering as hierarchical tags",
        description="Write a tag property whose tags mirror the clustering's tree "
        '("3 tabby cat", nested clusterings under their cluster). Undo with '
        "`planche tags --delete-property NAME`.",
    )
    save.add_argument("clustering", type=int, metavar="CLUSTERING")
    save.add_argument("--as", dest="name", default="Clustering", help="property name")
    save.add_argument("--replace", action="store_true", help="replace a property of that name")


def _strategies_help() -> str:
    lines = ["strategies and their parameters (--param NAME=VALUE):"]
    for name in sorted(read.STRATEGIES):
        strategy = read.strategy(name)
        lines.append(f"  {name}: {strategy.description}")
        for p in strategy.params:
            default = "required" if p.required else f"default {p.default}"
            lines.append(f"      {p.name}: {p.help}; {p.allowed()}; {default}")
    return "\n".join(lines)


def _strategy_params(items: list[str]) -> dict[str, str]:
    """`--param NAME=VALUE` options as a dict; each name once."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BadParameter("param", item, "NAME=VALUE")
        if name.strip() in params:
            raise BadParameter(
                "param", item, f"each parameter once ({name.strip()} is given twice)"
            )
        params[name.strip()] = value
    return params


def run_cluster(args: argparse.Namespace) -> int:
    params = {
        "strategy": args.strategy,
        "params": _strategy_params(args.param),
        "within": args.within,
        "embedder": args.embedder,
        "model_id": args.model_id,
        "weights": str(args.weights) if args.weights else None,
        "labels": not args.no_labels,
    }
    # only duplicates counts its work
    summary = run_command(args, "cluster", params, label="cluster", unit="pairs compared")
    if args.json:
        read.with_cluster_members(args.project, summary["clustering_id"], summary["clusters"])
    emit(args, summary, text=lambda: print_cluster_summary(summary))
    return 0


def run_clusters(args: argparse.Namespace) -> int:
    if args.members or args.cluster is not None:
        if args.cluster is None:
            raise BadParameter("members", "", "a cluster id: `planche clusters ID --members`")
        members = read.cluster_members(args.project, args.cluster)
        emit(args, {"cluster": args.cluster, "members": members},
             text=lambda: [say(printable(m["paths"][0] if m["paths"] else f"image {m['image_id']}"))
                           for m in members])  # fmt: skip
        return 0
    tree = read.clustering_tree(args.project, members=args.json)
    emit(args, tree, text=lambda: print_clustering_tree(tree))
    return 0


def run_delete_clustering(args: argparse.Namespace) -> int:
    done = run_command(args, "delete_clustering", {"clustering_id": args.clustering},
                       label="delete")  # fmt: skip
    deleted = done["deleted"]
    emit(
        args,
        {"deleted": deleted},
        text=lambda: say(
            f"Deleted clustering(s) {', '.join(map(str, deleted))} "
            "(`planche undo` brings them back)."
        ),
    )
    return 0


def run_save_clustering(args: argparse.Namespace) -> int:
    saved = run_command(
        args, "save_clustering",
        {"clustering_id": args.clustering, "name": args.name, "replace": args.replace},
        label="save",
    )  # fmt: skip
    emit(
        args,
        {k: saved[k] for k in ("property", "tags", "clustering_id")},
        text=lambda: say(
            f"Saved clustering {args.clustering} as {count(saved['tags'], 'tag')} of the "
            f"property {printable(saved['property'])!r} (`planche undo` takes them back)."
        ),
    )
    return 0
