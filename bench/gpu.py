"""The GPU path in one command: images/s of ViT-B-32 on one GPU, several ways.

Run on a GPU machine (`python bench/gpu.py`); `--device cpu --images 64`
checks the script itself anywhere. ImageNet-sized JPEGs (500x375, made from
the demo's real photos) and ViT-B-32 with random weights (the same arithmetic
as released ones; no download) are used by every row:

  - the model alone on tensors already on the device, at the batch size
    planche picks from free memory (the ceiling);
  - nvJPEG: decoding, resizing and normalising a batch of JPEG bytes on the
    device (DevicePreprocess), without the model;
  - `planche import` with embedding as it runs on a GPU: JPEGs decoded on the
    device in batches, the CPU decoding each only small (its check and its
    thumbnail); resizing and normalising on the device;
  - the same with decoding and CLIP's transform on the CPU (the path before);
  - `planche embed-shards` with one GPU worker on a local Ray, then ingest.

The issue's goal: 5,000 images/s or more on one H100/H200 for the import.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from PIL import Image


def make_jpegs(folder: Path, count: int) -> list[Path]:
    from planche.core.demo import build_demo_folder

    demo = folder / "demo"
    build_demo_folder(demo)
    sources = [p for p in sorted(demo.rglob("*.jpg")) if "incoming" not in p.parts]
    out = folder / "jpegs"
    out.mkdir()
    bases = []
    for source in sources:
        with Image.open(source) as im:
            bases.append(im.convert("RGB").resize((500, 375)))
    paths = []
    for i in range(count):  # each file its own bytes (its own sha256)
        path = out / f"{i:06d}.jpg"
        bases[i % len(bases)].rotate((i // len(bases)) % 360 * 0.5).save(path, quality=90)
        paths.append(path)
    return paths


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()

    import torch
    from embed import save_random_weights

    from planche.core import commands
    from planche.core.embedders.clip import ClipEmbedder
    from planche.core.ingest import import_folder

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py: no CUDA device here (use --device cpu to check the script)")
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="planche-gpu-") as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        paths = make_jpegs(tmp_path, args.images)
        print(f"made {len(paths)} JPEGs in {time.perf_counter() - started:.0f} s", flush=True)
        weights = save_random_weights(tmp_path, "vit")["weights"]

        def clip(on_device: bool) -> ClipEmbedder:
            return ClipEmbedder("ViT-B-32", None, weights, device=args.device,
                                preprocess_on_device=on_device)  # fmt: skip

        embedder = clip(True)
        batch = embedder.batch_size
        size = embedder.input_size
        pixels = torch.randn(batch, 3, size, size, device=args.device)
        embedder._encode_images(pixels)  # warm-up
        sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
        sync()
        started = time.perf_counter()
        repeats = max(1, 4096 // batch)
        for _ in range(repeats):
            embedder._encode_images(pixels)
        sync()
        rows.append((f"model alone, batch {batch} ({embedder.precision})",
                     rate(batch * repeats, time.perf_counter() - started)))  # fmt: skip

        data = [p.read_bytes() for p in paths[:batch]]
        assert embedder._device_preprocess is not None
        embedder._device_preprocess(data)  # warm-up
        sync()
        started = time.perf_counter()
        for _ in range(repeats):
            embedder._device_preprocess(data)
        sync()
        rows.append(("JPEG bytes decoded, resized, normalised on the device",
                     rate(batch * repeats, time.perf_counter() - started)))  # fmt: skip

        for on_device in (True, False):
            embedder = clip(on_device)
            project = tmp_path / f"import-{on_device}.duckdb"
            started = time.perf_counter()
            summary = import_folder(paths[0].parent, project, embedder=embedder)
            where = "the device" if on_device else "the CPU (CLIP's transform)"
            rows.append((f"planche import + embed, decode, resize and normalise on {where}",
                         rate(summary.embedded, time.perf_counter() - started)))  # fmt: skip

        if not args.skip_ray:
            from planche.core.shards import EmbedderOptions, embed_to_shards

            options = EmbedderOptions("clip", model="ViT-B-32", weights=str(weights))
            cores = os.cpu_count() or 2
            gpus = 1.0 if args.device.startswith("cuda") else 0.0
            summary = embed_to_shards(paths[0].parent, tmp_path / "shards", options,
                                      workers=1, cpus_per_worker=cores, gpus_per_worker=gpus,
                                      shard_files=2000)  # fmt: skip
            rows.append((f"embed-shards, 1 worker ({cores} CPUs, {gpus:g} GPU), Ray start "
                         "included", summary.images_per_s))  # fmt: skip
            started = time.perf_counter()
            commands.run(tmp_path / "ingested.duckdb", "ingest",
                         {"shards": str(tmp_path / "shards")})  # fmt: skip
            ingest_seconds = time.perf_counter() - started
            rows.append(("ingest of those shards", rate(summary.embedded, ingest_seconds)))

    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print()
    print(f"{device}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.images} JPEGs 500x375, ViT-B-32")  # fmt: skip
    print("| way | images/s |\n|---|---:|")
    for way, value in rows:
        print(f"| {way} | {value:,.0f} |")


if __name__ == "__main__":
    main()
