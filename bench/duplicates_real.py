"""Duplicates on real images: planche's pixels embedder against imagededup's PHash.

The evaluation set is generated, deterministically, from the freely licensed
photos that scikit-image and scikit-learn ship in their wheels (the sources and
licence checks of `planche.core.demo`, plus scikit-image's CC0 horse
silhouette as clip-art). Each *original* is a whole photo or one of several
non-overlapping parts of a large one (halves, thirds or quadrants: they share a
style, so they are distractors for each other), and gets these copies:

    copy          the same bytes at another path
    jpeg_q60      re-encoded at JPEG quality 60
    resize_50     half the width and height
    crop_5        95% of the width and height kept, at a seeded offset
    crop_10       90% kept, at a seeded offset
    bright_20     brightness +20%
    stretch       width x 4/3 at the same height (4:3 shown as 16:9)
    aspect_crop   the middle 75% of the width (a 16:9 wallpaper cut to 4:3)
    portrait      the widest centred 9:16 cut (a phone wallpaper made from a
                  landscape photo; counted as a duplicate, as the issue asks)
    mirror        left-right mirror   (a duplicate only with invariance=mirror)
    rotate_90     a quarter turn      (a duplicate only with invariance=rotate)

Singletons that share a style with the originals but are other pictures are
added as *distractors*: off-centre parts of the same large photos that overlap
an original by at most a quarter, and off-centre details of the whole photos
(the cat's ear, the astronaut's face). A centred crop that keeps a third of the
width or more is a portrait-style cut and so counts as a copy: no distractor is
one.

Originals alternate, by name, between a *tuned* part (looked at while the
descriptor was designed) and a *held-out* part (only measured); distractors
alternate the same way. Scores are pairwise: every pair of files in one true
group is a true pair; a pair involving a mirror or rotate_90 file is left out
of both truth and prediction unless the invariance that finds it is asked for.

Run it (about a minute on 2 cores, most of it imagededup):

    python bench/duplicates_real.py [--folder DIR] [--originals N] [--skip-peer]

Timing only (the default way of each, no invariance; medians of N runs, the
ways alternating within each run, quality checked in every run), optionally
against planche as it was at a git revision (extracted into the temporary
folder). Each way runs in a fresh child process, its modules imported before
the clock starts: run in one process, each way paid for the state another
left (planche's import took 0.63 s after PHash's forked workers, 0.50 s alone).

    python bench/duplicates_real.py --runs 5 [--against REV]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

EDITS = (
    "copy", "jpeg_q60", "resize_50", "crop_5", "crop_10", "bright_20", "stretch",
    "aspect_crop", "portrait", "mirror", "rotate_90",
)  # fmt: skip
# Edits that are duplicates only when the matching invariance is asked for.
INVARIANT_EDITS = {"mirror": ("mirror", "all"), "rotate_90": ("rotate", "all")}
MAX_SIDE = 640

# (name, source file, box as fractions of width and height, or None for all of it)
_PARTS = {
    "halves": [("l", (0.0, 0.0, 0.5, 1.0)), ("r", (0.5, 0.0, 1.0, 1.0))],
    "rows": [("top", (0.0, 0.0, 1.0, 0.5)), ("bottom", (0.0, 0.5, 1.0, 1.0))],
    "thirds": [(f"t{i}", (i / 3, 0.0, (i + 1) / 3, 1.0)) for i in range(3)],
    "quadrants": [
        (f"q{i}{j}", (j / 2, i / 2, (j + 1) / 2, (i + 1) / 2)) for i in range(2) for j in range(2)
    ],
}
_ORIGINALS: tuple[tuple[str, str, str | None], ...] = (
    # name, source, how it is split (None: the whole photo)
    ("astronaut", "astronaut.png", None),
    ("chelsea", "chelsea.png", None),
    ("cell", "cell.png", None),
    ("camera", "camera.png", None),
    ("clock", "clock_motion.png", None),
    ("text", "text.png", None),
    ("gravel", "gravel.png", None),
    ("horse", "horse.png", None),
    ("coins", "coins.png", "rows"),
    ("brick", "brick.png", "halves"),
    ("grass", "grass.png", "halves"),
    ("rocket", "rocket.jpg", "halves"),
    ("coffee", "coffee.png", "halves"),
    ("china", "china.jpg", "thirds"),
    ("flower", "flower.jpg", "thirds"),
    ("ihc", "ihc.png", "quadrants"),
    ("hubble", "hubble_deep_field.jpg", "quadrants"),
    ("retina", "retina.jpg", "quadrants"),
)
# Other pictures in the same styles: off-centre, overlapping an original by at most a quarter.
_DISTRACTORS: tuple[tuple[str, str, tuple[float, float, float, float]], ...] = (
    ("astronaut_face", "astronaut.png", (0.25, 0.0, 0.65, 0.42)),
    ("chelsea_ear", "chelsea.png", (0.68, 0.0, 1.0, 0.42)),
    ("camera_skyline", "camera.png", (0.6, 0.12, 1.0, 0.45)),
    ("cell_corner", "cell.png", (0.0, 0.0, 0.5, 0.3)),
    ("clock_left", "clock_motion.png", (0.0, 0.1, 0.35, 0.72)),
    ("coins_middle", "coins.png", (0.0, 0.25, 0.55, 0.75)),
    ("china_between", "china.jpg", (0.5, 0.0, 0.83, 0.6)),
    ("flower_between", "flower.jpg", (0.5, 0.4, 0.83, 1.0)),
    ("rocket_between", "rocket.jpg", (0.25, 0.5, 0.75, 1.0)),
    ("hubble_centre", "hubble_deep_field.jpg", (0.25, 0.25, 0.75, 0.75)),
    ("retina_centre", "retina.jpg", (0.25, 0.25, 0.75, 0.75)),
    ("ihc_centre", "ihc.png", (0.25, 0.25, 0.75, 0.75)),
    ("grass_middle", "grass.png", (0.25, 0.0, 0.75, 0.5)),
    ("brick_middle", "brick.png", (0.25, 0.5, 0.75, 1.0)),
)


@dataclass
class EvalSet:
    """What `build_set` wrote: paths are relative to its folder."""

    folder: Path
    # original name -> edit name ("original" included) -> relative path
    groups: dict[str, dict[str, str]] = field(default_factory=dict)
    distractors: list[str] = field(default_factory=list)
    # original or distractor name -> "tuned" or "held-out"
    part: dict[str, str] = field(default_factory=dict)

    def files(self) -> list[str]:
        return [p for g in self.groups.values() for p in g.values()] + list(self.distractors)

    def file_part(self) -> dict[str, str]:
        found = {p: self.part[name] for name, g in self.groups.items() for p in g.values()}
        found |= {p: self.part[Path(p).stem] for p in self.distractors}
        return found


def build_set(
    folder: Path,
    *,
    originals: Sequence[str] | None = None,
    edits: Sequence[str] = EDITS,
    distractors: bool | Sequence[str] = True,
) -> EvalSet:
    """Write the evaluation set into `folder` (an empty or missing folder).

    `originals` picks originals by name (all by default: names as listed in
    `original_names()`); `distractors` True for all of them, False for none,
    or a list of names. Returns the ground truth. Same bytes on every run with
    the same Pillow and libjpeg.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sources = _sources()
    wanted = set(originals) if originals is not None else None
    result = EvalSet(folder)
    names = original_names()
    for name, source, box in _original_boxes():
        if wanted is not None and name not in wanted:
            continue
        result.part[name] = "tuned" if names.index(name) % 2 == 0 else "held-out"
        picture = _fit(_cut(sources[source], box))
        result.groups[name] = _write_group(folder, name, picture, edits)
    for index, (name, source, box) in enumerate(_DISTRACTORS):
        if not (distractors is True or (distractors and name in distractors)):
            continue
        rel = f"distractors/{name}.jpg"
        _save(folder / rel, _jpeg(_fit(_cut(sources[source], box)), 90))
        result.distractors.append(rel)
        result.part[name] = "tuned" if index % 2 == 0 else "held-out"
    return result


def original_names() -> list[str]:
    return [name for name, _, _ in _original_boxes()]


def _original_boxes() -> list[tuple[str, str, tuple[float, float, float, float] | None]]:
    found = []
    for name, source, split in _ORIGINALS:
        if split is None:
            found.append((name, source, None))
        else:
            found.extend((f"{name}_{suffix}", source, box) for suffix, box in _PARTS[split])
    return found


def _sources() -> dict[str, Image.Image]:
    from planche.core import demo

    found = {}
    for name, (_, path) in demo._usable_sources().items():
        with Image.open(path) as im:
            found[name] = ImageOps.exif_transpose(im).convert("RGB")
    import skimage.data

    # scikit-image's docstring carries the licence; used only if it still says CC0.
    if "CC0 given by owner" in (skimage.data.horse.__doc__ or ""):
        with Image.open(Path(skimage.data.__file__).parent / "horse.png") as im:
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            found["horse.png"] = Image.alpha_composite(white, rgba).convert("RGB")
    return found


def _cut(picture: Image.Image, box: tuple[float, float, float, float] | None) -> Image.Image:
    if box is None:
        return picture
    w, h = picture.size
    left, top, right, bottom = box
    return picture.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))


def _fit(picture: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    w, h = picture.size
    if max(w, h) <= max_side:
        return picture
    scale = max_side / max(w, h)
    return picture.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)


def _write_group(
    folder: Path, name: str, picture: Image.Image, edits: Sequence[str]
) -> dict[str, str]:
    rng = np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
    w, h = picture.size
    original = _jpeg(picture, 92)
    written = {"original": f"originals/{name}.jpg"}
    _save(folder / written["original"], original)
    for edit in edits:
        rel = f"copies/{name}/{edit}.jpg"
        if edit == "copy":
            data = original
        elif edit == "jpeg_q60":
            data = _jpeg(picture, 60)
        elif edit == "resize_50":
            data = _jpeg(picture.resize((w // 2, h // 2), Image.Resampling.LANCZOS))
        elif edit in ("crop_5", "crop_10"):
            keep = 0.95 if edit == "crop_5" else 0.90
            cw, ch = round(w * keep), round(h * keep)
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            data = _jpeg(picture.crop((x, y, x + cw, y + ch)))
        elif edit == "bright_20":
            data = _jpeg(ImageEnhance.Brightness(picture).enhance(1.2))
        elif edit == "stretch":
            data = _jpeg(picture.resize((round(w * 4 / 3), h), Image.Resampling.LANCZOS))
        elif edit == "aspect_crop":
            cw = round(w * 0.75)
            data = _jpeg(picture.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h)))
        elif edit == "portrait":
            cw, ch = (round(h * 9 / 16), h) if w / h > 9 / 16 else (w, round(w * 16 / 9))
            data = _jpeg(picture.crop(((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2)))
        elif edit == "mirror":
            data = _jpeg(ImageOps.mirror(picture))
        elif edit == "rotate_90":
            data = _jpeg(picture.transpose(Image.Transpose.ROTATE_90))
        else:
            raise ValueError(f"no such edit: {edit}")
        _save(folder / rel, data)
        written[edit] = rel
    return written


def _jpeg(picture: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return out.getvalue()


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- scoring ----------------------------------------------------------------


def _counted(edit: str, invariance: str) -> bool:
    return edit not in INVARIANT_EDITS or invariance in INVARIANT_EDITS[edit]


def truth_pairs(truth: EvalSet, invariance: str = "none") -> set[frozenset[str]]:
    pairs = set()
    for group in truth.groups.values():
        members = [p for e, p in group.items() if _counted(e, invariance)]
        pairs.update(frozenset(pair) for pair in itertools.combinations(members, 2))
    return pairs


def _ignored(truth: EvalSet, invariance: str) -> set[str]:
    return {p for g in truth.groups.values() for e, p in g.items() if not _counted(e, invariance)}


def predicted_pairs(groups: Iterable[Iterable[str]]) -> set[frozenset[str]]:
    pairs = set()
    for group in groups:
        pairs.update(frozenset(pair) for pair in itertools.combinations(sorted(set(group)), 2))
    return pairs


def score(
    truth: EvalSet, groups: Iterable[Iterable[str]], invariance: str = "none"
) -> dict[str, object]:
    """Pairwise precision, recall and F1 overall and per part, and per-edit recall.

    `groups` are sets of relative paths; a file in no group is a singleton.
    Per-edit recall: the share of originals whose copy made by that edit is in
    the original's group. `distractors_grouped`: distractors in any group.
    """
    groups = [list(g) for g in groups]
    ignored = _ignored(truth, invariance)
    found = {p for p in predicted_pairs(groups) if not p & ignored}
    expected = truth_pairs(truth, invariance)
    parts = truth.file_part()
    result: dict[str, object] = {"all": _prf(found, expected)}
    for part in ("tuned", "held-out"):
        inside = {p for p, where in parts.items() if where == part}
        result[part] = _prf({p for p in found if p <= inside}, {p for p in expected if p <= inside})
    group_of = {p: i for i, g in enumerate(groups) for p in g}
    per_edit = {}
    for edit in [e for e in EDITS if any(e in g for g in truth.groups.values())]:
        hits = [
            g["original"] in group_of and group_of.get(g[edit]) == group_of[g["original"]]
            for g in truth.groups.values()
            if edit in g
        ]
        per_edit[edit] = round(sum(hits) / len(hits), 3)
    result["per_edit_recall"] = per_edit
    result["distractors_grouped"] = sum(p in group_of for p in truth.distractors)
    return result


def _prf(found: set, expected: set) -> dict[str, float | int]:
    hit = len(found & expected)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(expected) if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
        "true_pairs": len(expected), "found_pairs": len(found),
        "false_pairs": len(found - expected),
    }  # fmt: skip


# --- the ways measured --------------------------------------------------------


def planche_groups(
    truth: EvalSet,
    project: Path,
    invariance: str = "none",
    *,
    imported: bool = False,
    version: int | None = None,
) -> tuple[list[list[str]], dict[str, float]]:
    """Import the folder with the pixels embedder (the latest, or `version`),
    run the duplicates strategy at its defaults (and `invariance`)."""
    from planche.core.clustering import cluster
    from planche.core.embedders import load_embedder
    from planche.core.embedders.pixels import PixelsEmbedder
    from planche.core.ingest import import_folder
    from planche.core.store import open_store

    times = {}
    if not imported:
        embedder = load_embedder("pixels") if version is None else PixelsEmbedder(version)
        started = time.perf_counter()
        import_folder(truth.folder, project, embedder=embedder)
        times["encode_s"] = time.perf_counter() - started
    started = time.perf_counter()
    params = {} if invariance == "none" else {"invariance": invariance}
    summary = cluster(project, "duplicates", params, embedder="pixels", labels=False)
    times["group_s"] = time.perf_counter() - started
    with open_store(project, read_only=True) as store:
        paths = store.image_paths([int(m) for c in summary.clusters for m in c.members])
    root = truth.folder.resolve()
    groups = [
        [str(Path(p).resolve().relative_to(root)) for m in c.members for p in paths[int(m)]]
        for c in summary.clusters
    ]
    return groups, times


def phash_groups(truth: EvalSet) -> tuple[list[list[str]], dict[str, float]]:
    """imagededup's PHash at its defaults (Hamming distance at most 10), one worker each
    for encoding and search (the machine has 2 cores; planche imports on both)."""
    from imagededup.methods import PHash

    hasher = PHash(verbose=False)
    started = time.perf_counter()
    encodings = hasher.encode_images(str(truth.folder), recursive=True, num_enc_workers=2)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    duplicates = hasher.find_duplicates(encoding_map=encodings, num_dist_workers=2)
    group_s = time.perf_counter() - started
    # imagededup reports, per file, the files within the distance; its groups
    # are read here as the connected components of those links.
    return _components(duplicates.items()), {"encode_s": encode_s, "group_s": group_s}


def thumbnail_groups(
    truth: EvalSet, threshold: float = 0.95
) -> tuple[list[list[str]], dict[str, float]]:
    """A bare baseline: a 16x16 grey thumbnail of each file, mean removed, L2
    normalised, every pair at cosine >= threshold, connected components."""
    files = truth.files()
    started = time.perf_counter()
    rows = []
    for rel in files:
        with Image.open(truth.folder / rel) as im:
            grey = np.asarray(im.convert("L").resize((16, 16), Image.Resampling.BOX), np.float32)
        v = grey.ravel() - grey.mean()
        rows.append(v / max(float(np.linalg.norm(v)), 1e-6))
    vectors = np.stack(rows)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    sims = vectors @ vectors.T
    links = {
        files[i]: [files[j] for j in np.flatnonzero(sims[i] >= threshold) if j != i]
        for i in range(len(files))
    }
    groups = _components(links.items())
    return groups, {"encode_s": encode_s, "group_s": time.perf_counter() - started}


def _components(links: Iterable[tuple[str, Iterable[str]]]) -> list[list[str]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, others in links:
        for b in others:
            parent[find(str(a))] = find(str(b))
        find(str(a))
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return [g for g in groups.values() if len(g) > 1]


# --- the run ------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="where to write the set (default: a temp dir)")
    parser.add_argument("--originals", type=int, help="only the first N originals")
    parser.add_argument("--skip-peer", action="store_true", help="do not run imagededup")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--before", action="store_true", help="also measure pixels-v2")
    parser.add_argument("--runs", type=int, help="only time the default ways, N runs each")
    parser.add_argument("--against", metavar="REV", help="with --runs: also planche at REV")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # a folder, for --runs
    parser.add_argument("--way", default="planche", help=argparse.SUPPRESS)  # with --child
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.way)
        return
    work = Path(tempfile.mkdtemp(prefix="planche-dup-real-"))
    folder = args.folder or work / "images"
    if folder.exists():
        shutil.rmtree(folder)
    names = original_names()[: args.originals] if args.originals else None
    truth = build_set(folder, originals=names)
    print(
        f"set: {len(truth.groups)} originals, {len(truth.files())} files "
        f"({len(truth.distractors)} distractors) in {folder}",
        flush=True,
    )
    if args.runs:
        _timing_runs(truth, work, args.runs, args.against, skip_peer=args.skip_peer)
        shutil.rmtree(work, ignore_errors=True)
        return
    _warm_imports(skip_peer=args.skip_peer)
    rows: list[dict[str, object]] = []
    project = work / "project.duckdb"
    for invariance in ("none", "mirror", "rotate", "all"):
        groups, times = planche_groups(truth, project, invariance, imported=invariance != "none")
        rows.append(_row(f"planche pixels-v3, invariance={invariance}", truth, groups, times,
                         invariance))  # fmt: skip
    if args.before:
        groups, times = planche_groups(truth, work / "v2.duckdb", version=2)
        rows.append(_row("planche pixels-v2 (before)", truth, groups, times, "none"))
    groups, times = thumbnail_groups(truth)
    rows.append(_row("16x16 grey thumbnail, cosine >= 0.95", truth, groups, times, "none"))
    if not args.skip_peer:
        groups, times = phash_groups(truth)
        rows.append(_row("imagededup PHash, default (distance <= 10)", truth, groups, times,
                         "none"))  # fmt: skip
    _print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    shutil.rmtree(work, ignore_errors=True)


_TIMES = ("encode_s", "group_s", "total_s")


def _timing_runs(
    truth: EvalSet, work: Path, runs: int, against: str | None, *, skip_peer: bool
) -> None:
    """Time planche's default way (and planche at `against`, and PHash) `runs`
    times, alternating; print each run, the medians and planche's ratio to PHash."""
    # way -> (a folder holding the `planche` to run, or None for this one; what runs)
    ways: dict[str, tuple[Path | None, str]] = {"planche": (None, "planche")}
    if against:
        ways[f"planche at {against}"] = (_checkout(against, work), "planche")
    if not skip_peer:
        ways["PHash"] = (None, "phash")
    times: dict[str, list[dict[str, float]]] = {way: [] for way in ways}
    quality: dict[str, set[str]] = {way: set() for way in ways}
    for run in range(runs):
        for way, (root, what) in ways.items():
            groups, took = _in_child(root, truth, what)
            figures = score(truth, groups)
            quality[way].add(json.dumps([figures["all"], figures["per_edit_recall"]]))
            took["total_s"] = took["encode_s"] + took["group_s"]
            times[way].append(took)
            print(f"run {run + 1} {way}: " + " ".join(f"{k} {v:.3f}" for k, v in took.items())
                  + f" F1 {figures['all']['f1']:.3f}", file=sys.stderr, flush=True)  # fmt: skip
    print("\n| run | " + " | ".join(f"{w} encode | {w} group | {w} total" for w in ways)
          + (" | planche / PHash |" if "PHash" in ways else " |"))  # fmt: skip
    print("|---|" + "---:|---:|---:|" * len(ways) + ("---:|" if "PHash" in ways else ""))
    for run in range(runs):
        cells = [f"{times[w][run][k]:.2f}" for w in ways for k in _TIMES]
        if "PHash" in ways:
            cells.append(f"{times['planche'][run]['total_s'] / times['PHash'][run]['total_s']:.2f}")
        print(f"| {run + 1} | " + " | ".join(cells) + " |")
    medians = [f"{statistics.median(t[k] for t in times[w]):.2f}" for w in ways for k in _TIMES]
    if "PHash" in ways:
        pairs = zip(times["planche"], times["PHash"], strict=True)
        ratios = [p["total_s"] / q["total_s"] for p, q in pairs]
        medians.append(f"{statistics.median(ratios):.2f}")
    print("| median | " + " | ".join(medians) + " |")
    for way, seen in quality.items():
        (all_figures, per_edit), *_ = [json.loads(q) for q in seen]
        same = "the same in every run" if len(seen) == 1 else f"{len(seen)} DIFFERENT results"
        print(f"\n{way}: F1 {all_figures['f1']:.3f} (P {all_figures['precision']:.3f}, "
              f"R {all_figures['recall']:.3f}), {same}; recall per edit "
              f"{json.dumps(per_edit)}")  # fmt: skip


def _checkout(rev: str, work: Path) -> Path:
    """A folder whose `planche` package is this repository's tree at `rev`
    (extracted with git archive: the repository is left as it is)."""
    repo = Path(__file__).resolve().parent.parent
    root = work / "against"
    (root / "planche").mkdir(parents=True)
    tree = subprocess.run(["git", "-C", str(repo), "archive", rev], check=True,
                          capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(root / "planche")], input=tree, check=True)
    return root


def _in_child(
    root: Path | None, truth: EvalSet, way: str
) -> tuple[list[list[str]], dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(root)} if root is not None else None
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(truth.folder), "--way", way],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    found = json.loads(done.stdout)
    return found["groups"], found["times"]


def _child(folder: Path, way: str) -> None:
    """--runs's child: one way (planche's default, or PHash) over `folder`, as JSON
    on stdout, its modules imported first."""
    _warm_imports(skip_peer=way != "phash")
    with tempfile.TemporaryDirectory() as work:
        if way == "phash":
            groups, times = phash_groups(EvalSet(folder))
        else:
            groups, times = planche_groups(EvalSet(folder), Path(work) / "project.duckdb")
    print(json.dumps({"groups": groups, "times": times}))


def _warm_imports(skip_peer: bool) -> None:
    """Module imports are paid once per process by every way: none is timed."""
    import pyarrow as pa
    import scipy.sparse.csgraph  # noqa: F401 - the strategy's connected components
    import threadpoolctl  # noqa: F401 - core/blas.py's, on first use
    from PIL import Image

    import planche.core.cluster  # noqa: F401
    import planche.core.clustering  # noqa: F401
    import planche.core.embedders.pixels  # noqa: F401
    import planche.core.ingest  # noqa: F401

    Image.preinit()  # Pillow's common format plug-ins, imported on the first open

    # pyarrow imports pandas (when installed) the first time it turns a Python
    # list into an array, which the import's first write does: about 0.3 s.
    pa.array([0])
    if not skip_peer:
        import imagededup.methods  # noqa: F401


def _row(way, truth, groups, times, invariance) -> dict[str, object]:  # noqa: ANN001
    figures = score(truth, groups, invariance)
    print(f"{way}: {json.dumps(figures)} {json.dumps(times)}", file=sys.stderr, flush=True)
    return {"way": way, "invariance": invariance, **figures, **times}


def _print_table(rows: list[dict[str, object]]) -> None:
    print(
        "\n| way | P | R | F1 | F1 tuned | F1 held-out | false pairs | distractors grouped "
        "| encode (s) | group (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        a, t, h = r["all"], r["tuned"], r["held-out"]
        encode = f"{r['encode_s']:.2f}" if "encode_s" in r else "(same)"
        print(
            f"| {r['way']} | {a['precision']:.3f} | {a['recall']:.3f} | **{a['f1']:.3f}** "
            f"| {t['f1']:.3f} | {h['f1']:.3f} | {a['false_pairs']} | {r['distractors_grouped']} "
            f"| {encode} | {r['group_s']:.2f} |"
        )
    edits = [e for e in EDITS if e != "copy"]
    print("\n| way | " + " | ".join(edits) + " |")
    print("|---|" + "---:|" * len(edits))
    for r in rows:
        per = r["per_edit_recall"]
        print(f"| {r['way']} | " + " | ".join(f"{per.get(e, float('nan')):.2f}" for e in edits)
              + " |")  # fmt: skip


if __name__ == "__main__":
    main()
