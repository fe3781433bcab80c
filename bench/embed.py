"""Embedding throughput: planche's pipeline against the naive loop, in one run.

The naive loop is what Panoptic does: for each image, open the file, decode it
fully, preprocess it and run the model on a batch of one, in fp32. planche
decodes in a thread pool ahead of the model (JPEG draft decoding at model
resolution), runs batches, in bf16 on CPUs with AMX, and stores the vectors.

The same JPEGs (photos from the demo folder, enlarged to camera-like sizes)
and the same weights (random, saved as a local checkpoint and loaded through
planche's real loading path) are used by every row. Also measured: the model
alone on pre-decoded tensors at its batch size (the ceiling the whole import
should approach, DESIGN.md asks for 90%), and the pixels embedder.

    python bench/embed.py [--images 300] [--models vit,tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from planche.core.demo import build_demo_folder
from planche.core.embed import embed_project
from planche.core.embedders import load_embedder
from planche.core.ingest import import_folder

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def make_jpegs(folder: Path, count: int) -> list[Path]:
    """Camera-sized JPEGs (about 2000x1500) made from the demo photos."""
    demo = folder / "demo"
    build_demo_folder(demo)
    sources = [p for p in sorted(demo.rglob("*.jpg")) if "incoming" not in p.parts]
    out = folder / "jpegs"
    out.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            im = im.convert("RGB").resize((2000, 1500), Image.Resampling.BILINEAR)
        noise = rng.integers(-6, 7, size=(1500, 2000, 1), dtype=np.int16)
        pixels = np.clip(np.asarray(im, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
        path = out / f"photo_{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def save_random_weights(folder: Path, which: str) -> dict:
    """Random weights in a local checkpoint; returns load_embedder's keywords."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    if which == "vit":
        model = open_clip.create_model("ViT-B-32")
        path = folder / "vit-b-32-random.safetensors"
        save_file(model.state_dict(), str(path))
        return {"model": "ViT-B-32", "weights": path}
    tiny = folder / "tiny"
    tiny.mkdir()
    (tiny / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY}))
    model = open_clip.create_model(f"local-dir:{tiny}", load_weights=False)
    save_file(model.state_dict(), str(tiny / "open_clip_model.safetensors"))
    return {"weights": tiny}


def naive_loop(paths: list[Path], embedder_kwargs: dict) -> float:
    """One image at a time, fp32, full decode: images per second."""
    import torch

    embedder = load_embedder("clip", precision="fp32", **embedder_kwargs)
    model, preprocess = embedder._model, embedder._preprocess
    started = time.perf_counter()
    with torch.no_grad():
        for path in paths:
            image = preprocess(Image.open(path).convert("RGB")).unsqueeze(0)
            model.encode_image(image)
    return len(paths) / (time.perf_counter() - started)


def model_alone(paths: list[Path], embedder) -> float:
    """The model on already-decoded tensors at the embedder's batch size."""
    tensors = [embedder.prepare(Image.open(p).convert("RGB")) for p in paths[:128]]
    embedder.embed_prepared(tensors[: embedder.batch_size])  # warm-up
    started = time.perf_counter()
    embedder.embed_prepared(tensors)
    return len(tensors) / (time.perf_counter() - started)


def planche_import(folder: Path, project: Path, embedder=None) -> float:
    """The whole import (read, hash, decode, thumbnail, embed, store): images/s."""
    started = time.perf_counter()
    summary = import_folder(folder, project, embedder=embedder)
    return summary.new / (time.perf_counter() - started)


def planche_embed(project: Path, embedder) -> float:
    """Embedding an already imported project (files read and decoded again)."""
    result = embed_project(project, embedder)
    return result.embedded / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--models", default="vit,tiny")
    args = parser.parse_args()

    rows: list[tuple[str, str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="planche-bench-") as tmp:
        tmp_path = Path(tmp)
        print(f"making {args.images} JPEGs of 2000x1500 ...", flush=True)
        paths = make_jpegs(tmp_path, args.images)
        folder = paths[0].parent
        for which in args.models.split(","):
            kwargs = save_random_weights(tmp_path, which)
            name = "ViT-B-32" if which == "vit" else "tiny"
            naive = naive_loop(paths, kwargs)
            rows.append((name, "naive loop: batch 1, fp32, full decode", naive, "1.00x"))
            for precision in ("auto", "fp32"):
                embedder = load_embedder("clip", precision=precision, **kwargs)
                label = f"{embedder.precision}, batch {embedder.batch_size}"
                alone = model_alone(paths, embedder)
                rows.append((name, f"model alone: {label}", alone, f"{alone / naive:.2f}x"))
                project = tmp_path / f"{which}-{precision}.duckdb"
                fused = planche_import(folder, project, embedder)
                rows.append(
                    (name, f"planche import + embed, one pass: {label}", fused,
                     f"{fused / naive:.2f}x ({100 * fused / alone:.0f}% of model alone)")
                )  # fmt: skip
                project = tmp_path / f"{which}-{precision}-later.duckdb"
                planche_import(folder, project)
                later = planche_embed(project, embedder)
                rows.append(
                    (name, f"planche embed of an imported project: {label}", later,
                     f"{later / naive:.2f}x ({100 * later / alone:.0f}% of model alone)")
                )  # fmt: skip
        pixels = load_embedder("pixels")
        plain = planche_import(folder, tmp_path / "plain.duckdb")
        rows.append(("-", "planche import without embedding", plain, ""))
        fused = planche_import(folder, tmp_path / "pixels.duckdb", pixels)
        rows.append(("pixels", "planche import + pixels embed, one pass", fused, ""))
        project = tmp_path / "pixels-later.duckdb"
        planche_import(folder, project)
        rows.append(
            ("pixels", "planche embed from stored thumbnails", planche_embed(project, pixels), "")
        )

    print()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.images} JPEGs 2000x1500")  # fmt: skip
    print("| model | way | images/s | vs naive |\n|---|---|---:|---|")
    for model, way, rate, ratio in rows:
        print(f"| {model} | {way} | {rate:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
