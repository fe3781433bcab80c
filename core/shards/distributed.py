"""Embedding a large collection on a Ray cluster, into Parquet shards.

Ray Data carries the listing of files to an actor pool (one model per actor,
a GPU or a fraction of one each when the cluster has GPUs). Each actor reads,
hashes and decodes its files exactly as `planche import` does (the same
`read_image_file`), so its vectors equal a local import's, then embeds them
and writes one shard per batch of files.

Actors write their shards themselves rather than through Ray's
`write_parquet`: a shard's name is derived from the paths it holds, it is
written beside and renamed into place, so a batch that Ray retries after a
lost worker rewrites the same file instead of adding a second copy, and the
driver sees each finished shard as it lands (progress, Ctrl-C between
shards). Decoding happens next to the model, because a decoded 224x224
float tensor (600 KB) costs far more to ship between nodes than the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from planche.core.decode import DEFAULT_MAX_PIXELS
from planche.core.errors import BadParameter, PlancheError
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.core.scan import Candidate
from planche.core.shards.listing import list_source, paths_done
from planche.core.shards.schema import PARTIAL_SUFFIX, SHARD_SUFFIX, ShardRow, shard_table

DEFAULT_SHARD_FILES = 1000
INSTALL_HINT = "pip install 'planche[cluster]'"


@dataclass
class ShardRunSummary:
    source: str
    out: str
    model: str = ""
    workers: int = 0
    listed: int = 0  # files the source names
    already: int = 0  # of those, already in a shard of --out (skipped)
    embedded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    shards: int = 0  # shards written by this run
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def images_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "out": self.out,
            "model": self.model,
            "workers": self.workers,
            "listed": self.listed,
            "already": self.already,
            "embedded": self.embedded,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "shards": self.shards,
            "seconds": round(self.seconds, 2),
            "images_per_s": round(self.images_per_s, 1),
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class EmbedderOptions:
    """How each actor loads its model (the options of `load_embedder`)."""

    embedder: str = "clip"
    model: str | None = None
    pretrained: str | None = None
    weights: str | None = None
    precision: str = "auto"
    batch_size: int | None = None

    def load(self, device: str = "auto") -> Any:
        from planche.core.embedders import load_embedder

        return load_embedder(
            self.embedder, model=self.model, pretrained=self.pretrained,
            weights=Path(self.weights) if self.weights else None, device=device,
            precision=self.precision, batch_size=self.batch_size,
        )  # fmt: skip


def embed_to_shards(
    source: Path | str,
    out: Path | str,
    options: EmbedderOptions,
    *,
    workers: int = 2,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    shard_files: int = DEFAULT_SHARD_FILES,
    address: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> ShardRunSummary:
    """Embed every file SOURCE names into shards in `out`, on Ray.

    `address` is a running cluster's (else $RAY_ADDRESS, else a local Ray is
    started for this run). Files already in a shard of `out` are skipped.
    """
    _check(workers, cpus_per_worker, gpus_per_worker, shard_files, max_pixels)
    cancel = cancel or CancelToken()
    started = time.monotonic()
    out = Path(out).expanduser().absolute()
    summary = ShardRunSummary(source=str(source), out=str(out), workers=workers)
    # Loaded here once, on the CPU: missing weights or a bad option stop the
    # run in seconds, before a cluster is asked for anything.
    local = options.load(device="cpu")
    summary.model = local.identity.label
    progress(ProgressEvent("list", 0, None, f"listing {source}"))
    listing = list_source(Path(source))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadParameter(
            "--out", str(out), f"a folder to write shards in ({exc.strerror})"
        ) from None
    with _only_run(out):
        done = paths_done(out)
        todo = [c for c in listing.candidates if c.path not in done]
        problems = [p for p in listing.problems if p.path not in done]
        summary.listed = len(listing.candidates) + len(listing.problems)
        summary.already = summary.listed - len(todo) - len(problems)
        if problems:
            rows = [ShardRow(p.path, 0, 0.0, error=p.reason) for p in problems]
            _write_shard(out, rows, None, local.identity)
            summary.failed.extend((p.path, p.reason) for p in problems)
            summary.shards += 1
        if todo:
            _run_on_ray(todo, out, options, summary, workers=workers,
                        cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
                        shard_files=shard_files, address=address, max_pixels=max_pixels,
                        progress=progress, cancel=cancel)  # fmt: skip
    summary.failed.sort()
    summary.seconds = time.monotonic() - started
    return summary


def _check(workers: int, cpus: float, gpus: float, shard_files: int, max_pixels: int) -> None:
    if not 1 <= workers <= 4096:
        raise BadParameter("workers", workers, "a whole number from 1 to 4096")
    if not 0 < cpus <= 256:
        raise BadParameter("cpus_per_worker", cpus, "a number of CPUs above 0, at most 256")
    if not 0 <= gpus <= 16:
        raise BadParameter("gpus_per_worker", gpus, "a number of GPUs from 0 (none) to 16")
    if not 1 <= shard_files <= 1_000_000:
        raise BadParameter("shard_files", shard_files, "a whole number from 1 to 1000000")
    if max_pixels < 1:
        raise BadParameter("max_pixels", max_pixels, "a positive number of pixels")


@contextmanager
def _only_run(out: Path) -> Iterator[None]:
    """One run per output folder: two would embed the same files twice."""
    try:
        handle = open(out / ".planche-shards.lock", "a+")  # noqa: SIM115 - held while running
    except OSError as exc:
        raise BadParameter(
            "--out", str(out), f"a folder planche may write in ({exc.strerror})"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlancheError(
                f"another embed-shards run is writing to {out}; wait for it or choose another "
                "--out folder"
            ) from None
        for partial in out.glob(f"*{PARTIAL_SUFFIX}"):
            partial.unlink(missing_ok=True)  # left by a killed run; its files are redone
        yield


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data ships in the same wheel as an extra
    except ImportError as exc:
        raise PlancheError(
            f"distributed embedding needs Ray Data, which is not installed ({exc.name}): "
            f"{INSTALL_HINT}"
        ) from None
    return ray


def _run_on_ray(
    todo: Sequence[Candidate],
    out: Path,
    options: EmbedderOptions,
    summary: ShardRunSummary,
    *,
    workers: int,
    cpus_per_worker: float,
    gpus_per_worker: float,
    shard_files: int,
    address: str | None,
    max_pixels: int,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> None:
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        where = address or os.environ.get("RAY_ADDRESS")
        doing = f"connecting to Ray at {where}" if where else "starting a local Ray"
        progress(ProgressEvent("start", 0, None, doing))
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR, configure_logging=False)  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise PlancheError(
                f"cannot start or reach Ray at {where or 'this machine'}: {first}"
            ) from None
    try:
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # progress is ours to show
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        listing = pa.table({
            "path": [c.path for c in todo],
            "size": pa.array([c.size for c in todo], pa.int64()),
            "mtime": pa.array([c.mtime for c in todo], pa.float64()),
        })  # fmt: skip
        blocks = [listing.slice(i, shard_files) for i in range(0, len(todo), shard_files)]
        threads = max(1, int(cpus_per_worker))
        settings = {"options": options, "out": str(out), "threads": threads,
                    "max_pixels": max_pixels}  # fmt: skip
        shards = ray.data.from_arrow(blocks).map_batches(
            ShardWriter,
            batch_size=shard_files,
            batch_format="pyarrow",
            # Ray Data restarts a lost actor and retries its batch (by default, without
            # limit): the retried batch writes the shard of the same name.
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(blocks))),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
            fn_constructor_kwargs=settings,
        )  # fmt: skip
        files_done = 0
        progress(ProgressEvent("embed", 0, len(todo), summary.model))
        try:
            for row in shards.iter_rows():
                summary.shards += 1
                summary.embedded += int(row["embedded"])
                summary.failed.extend(zip(row["failed_paths"], row["failed_reasons"], strict=True))
                files_done += int(row["files"])
                progress(ProgressEvent("embed", files_done, len(todo), summary.model))
                if cancel.cancelled:
                    summary.cancelled = True
                    break
        except KeyboardInterrupt:
            summary.cancelled = True
        except ray.exceptions.RayError as exc:
            raise PlancheError(f"the Ray run stopped: {_cause(exc)}") from None
    finally:
        if started_here:
            ray.shutdown()


def _cause(exc: BaseException) -> str:
    """The first line of what went wrong inside Ray, without its traceback."""
    cause = getattr(exc, "cause", None) or exc
    lines = [line for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else 'no detail'}"


class ShardWriter:
    """A Ray actor: loads the model once, then turns batches of files into shards."""

    def __init__(self, options: EmbedderOptions, out: str, threads: int, max_pixels: int) -> None:
        import torch

        self.out = Path(out)
        self.threads = threads
        self.max_pixels = max_pixels
        self.embedder = options.load(device="auto")
        torch.set_num_threads(threads)  # the actor's share of the node, not every core

    def __call__(self, batch: pa.Table) -> dict[str, np.ndarray]:
        candidates = [
            Candidate(path, size, mtime)
            for path, size, mtime in zip(
                batch.column("path").to_pylist(), batch.column("size").to_pylist(),
                batch.column("mtime").to_pylist(), strict=True,
            )
        ]  # fmt: skip
        name = shard_name(c.path for c in candidates)
        rows, vectors = self._embed(candidates)
        if not (self.out / name).exists():  # a retried batch whose shard had landed
            _write_shard(self.out, rows, vectors, self.embedder.identity, name)
        failed = [row for row in rows if row.error is not None]
        return {
            "shard": np.array([name]),
            "files": np.array([len(rows)]),
            "embedded": np.array([len(rows) - len(failed)]),
            "failed_paths": np.array([[r.path for r in failed]], dtype=object),
            "failed_reasons": np.array([[r.error for r in failed]], dtype=object),
        }

    def _embed(self, candidates: list[Candidate]) -> tuple[list[ShardRow], np.ndarray | None]:
        from planche.core.ingest import read_image_file
        from planche.core.parallel import ordered_map

        embedder = self.embedder
        rows: list[ShardRow] = []
        prepared: list[Any] = []
        vectors: list[np.ndarray] = []

        def read(candidate: Candidate) -> Any:
            return read_image_file(candidate, set(), self.max_pixels, embedder)

        window = max(self.threads * 4, 2 * embedder.batch_size)
        for got in ordered_map(read, candidates, workers=self.threads + 1, window=window,
                               name="planche-shard-read"):  # fmt: skip
            c = got.candidate
            if got.error is not None or got.image is None:
                rows.append(ShardRow(c.path, c.size, c.mtime, got.sha256, error=got.error))
                continue
            image = got.image
            rows.append(ShardRow(
                c.path, c.size, c.mtime, image.sha256, image.width, image.height, image.format,
                image.mode, image.exif_date, image.thumbnail,
            ))  # fmt: skip
            prepared.append(got.prepared)
            if len(prepared) >= embedder.batch_size:
                vectors.append(embedder.embed_prepared(prepared))
                prepared = []
        if prepared:
            vectors.append(embedder.embed_prepared(prepared))
        return rows, (np.concatenate(vectors) if vectors else None)


def shard_name(paths: Iterator[str] | Sequence[str]) -> str:
    """A shard's file name, from the paths it holds: the same batch, the same name."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
    return f"shard-{digest.hexdigest()[:24]}{SHARD_SUFFIX}"


def _write_shard(
    out: Path, rows: Sequence[ShardRow], vectors: np.ndarray | None, identity: Any,
    name: str | None = None,
) -> Path:  # fmt: skip
    import pyarrow.parquet as pq

    name = name or shard_name(row.path for row in rows)
    target = out / name
    partial = out / (name + PARTIAL_SUFFIX)
    pq.write_table(shard_table(rows, vectors, identity), partial, compression="zstd")
    os.replace(partial, target)
    return target


__all__ = [
    "DEFAULT_SHARD_FILES",
    "EmbedderOptions",
    "ShardRunSummary",
    "ShardWriter",
    "embed_to_shards",
    "shard_name",
]
