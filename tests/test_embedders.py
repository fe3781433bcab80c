"""Embedders: CLIP loaded from a local checkpoint through the real path, and pixels."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import time

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from conftest import TINY_CLIP, photo_like, run_main, write_good_images
from planche.core.embed import embed_file, embed_project
from planche.core.embedders import (
    NoTextTower,
    WeightsUnavailable,
    embed_images,
    load_embedder,
)
from planche.core.errors import BadParameter, PlancheError
from planche.core.ingest import import_folder
from planche.core.progress import CancelToken
from planche.core.store import open_store


@pytest.fixture(scope="module")
def clip(tiny_clip):
    return load_embedder("clip", weights=tiny_clip, precision="fp32")


def _variants(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=35)
    return [
        img.resize((w // 2, h // 2)),
        Image.open(io.BytesIO(out.getvalue())).convert("RGB"),
        ImageEnhance.Brightness(img).enhance(1.2),
        img.crop((int(w * 0.03), int(h * 0.03), int(w * 0.97), int(h * 0.97))),
    ]


def test_clip_vectors_are_normalised_deterministic_and_of_the_model_dim(clip, tiny_clip):
    images = [photo_like(i) for i in range(5)]
    first = embed_images(clip, images)
    again = embed_images(load_embedder("clip", weights=tiny_clip, precision="fp32"), images)
    assert first.shape == (5, TINY_CLIP["embed_dim"]) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(first, again, atol=1e-6)
    assert clip.identity.dim == TINY_CLIP["embed_dim"]
    assert clip.identity.weights_hash, "a local checkpoint is identified by its content"


def test_text_and_images_share_one_space(clip):
    text = clip.embed_text(["a red square", "a forest"])
    image = embed_images(clip, [photo_like(1)])
    assert text.shape == (2, image.shape[1])
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(text[0], text[1]), "different phrases get different vectors"
    with pytest.raises(BadParameter, match="text"):
        clip.embed_text([" "])


def test_bf16_agrees_with_fp32(tiny_clip, clip):
    bf16 = load_embedder("clip", weights=tiny_clip, precision="bf16")
    images = [photo_like(i, (64, 64)) for i in range(4)]
    cosines = (embed_images(bf16, images) * embed_images(clip, images)).sum(axis=1)
    assert bf16.identity.precision == "bf16"
    assert cosines.min() > 0.98


def test_checkpoints_are_loaded_as_weights_only(tmp_path, tiny_clip):
    import open_clip
    import torch

    config = tmp_path / "planche-tiny.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)  # an architecture by name, as built-ins are
    state = open_clip.create_model(f"local-dir:{tiny_clip}").state_dict()
    plain = tmp_path / "plain.pt"
    torch.save(state, plain)
    embedder = load_embedder("clip", model="planche-tiny", weights=plain)
    assert embedder.identity.dim == TINY_CLIP["embed_dim"]

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("code ran",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": Payload()}))
    with pytest.raises(PlancheError, match="cannot load CLIP weights"):
        load_embedder("clip", model="planche-tiny", weights=evil)
    assert not marker.exists(), "a checkpoint never runs code"


def test_missing_weights_fail_fast_with_a_way_forward():
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable) as info:
        load_embedder("clip")
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "ViT-B-32/openai" in message and "--weights" in message


def test_bad_embedder_parameters_name_the_parameter(tiny_clip):
    with pytest.raises(BadParameter, match="pretrained='nope'.*openai"):
        load_embedder("clip", pretrained="nope")
    with pytest.raises(BadParameter, match="model='ViT-Nope'"):
        load_embedder("clip", model="ViT-Nope")
    with pytest.raises(BadParameter, match="weights="):
        load_embedder("clip", weights=tiny_clip / "missing")
    import torch

    # A device this machine lacks (the suite also runs on GPU machines).
    absent = "mps" if torch.cuda.is_available() else "cuda"
    with pytest.raises(BadParameter, match=f"device='{absent}'"):
        load_embedder("clip", weights=tiny_clip, device=absent)
    with pytest.raises(BadParameter, match="precision='fp8'"):
        load_embedder("clip", weights=tiny_clip, precision="fp8")
    with pytest.raises(BadParameter, match="embedder='sift'"):
        load_embedder("sift")
    with pytest.raises(BadParameter, match="weights"):
        load_embedder("pixels", weights=tiny_clip)


def test_pixels_finds_near_duplicate_variants_first():
    pixels = load_embedder("pixels")
    originals = [photo_like(seed, (160, 120)) for seed in range(12)]
    index = embed_images(pixels, originals)
    for k, original in enumerate(originals[:4]):
        for variant in _variants(original):
            scores = index @ embed_images(pixels, [variant])[0]
            assert int(np.argmax(scores)) == k
            assert scores[k] > 0.95
            assert np.delete(scores, k).max() < scores[k] - 0.05
    with pytest.raises(NoTextTower, match="pixels"):
        pixels.embed_text(["a cat"])


def test_pixels_groups_flat_frames_by_brightness_and_keeps_v1_for_textured_pictures():
    rng = np.random.default_rng(3)
    noisy_black = np.clip(8 + rng.normal(0, 1.5, (90, 160, 3)), 0, 255).astype(np.uint8)
    frames = {
        "black": Image.new("RGB", (160, 90), (0, 0, 0)),
        "black, smaller": Image.new("RGB", (64, 36), (2, 2, 2)),
        "black with sensor noise": Image.fromarray(noisy_black),
        "white": Image.new("RGB", (160, 90), (255, 255, 255)),
        "grey": Image.new("RGB", (160, 90), (128, 128, 128)),
        "photo": photo_like(1, (160, 120)),
    }
    vectors = dict(zip(frames, embed_images(load_embedder("pixels"), list(frames.values())),
                       strict=True))  # fmt: skip
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors.values()), "no zero vectors"
    black = vectors["black"]
    assert black @ vectors["black, smaller"] > 0.99
    assert black @ vectors["black with sensor noise"] > 0.95
    for other in ("white", "grey", "photo"):
        assert black @ vectors[other] < 0.5, other
    # v2: a picture with contrast gets v1's vector (and two zeros), so old
    # vectors stay comparable.
    from planche.core.embedders.pixels import PixelsEmbedder

    v1 = embed_images(PixelsEmbedder(version=1), [frames["photo"]])[0]
    v2 = embed_images(PixelsEmbedder(version=2), [frames["photo"]])[0]
    np.testing.assert_allclose(v2[: len(v1)], v1, atol=1e-6)
    assert not v2[len(v1) :].any()


def test_pixels_vectors_of_an_older_version_are_matched_by_the_same_version(project):
    from planche.core.embedders import load_embedder_for_model
    from planche.core.embedders.pixels import PixelsEmbedder

    with open_store(project, create=True) as store:
        old = PixelsEmbedder(version=1).identity
        model = store.register_model(
            embedder=old.embedder, name=old.name, pretrained=None, weights_hash=None,
            dim=old.dim, precision=old.precision, preprocessing=old.preprocessing,
        )  # fmt: skip
    embedder = load_embedder_for_model(model)
    assert (embedder.identity.name, embedder.identity.dim) == ("pixels-v1", model.dim)


def test_embedding_a_project_is_resumable_and_models_coexist(tmp_path, project, clip):
    folder = tmp_path / "photos"
    paths = write_good_images(folder, 30)
    import_folder(folder, project)
    token = CancelToken()

    def stop_early(event):
        if event.done >= 5:
            token.cancel()

    clip.batch_size = 4
    first = embed_project(project, clip, progress=stop_early, cancel=token, workers=1)
    assert first.cancelled and 0 < first.embedded < 30
    paths[-1].unlink()  # a file gone since the import
    rest = embed_project(project, clip)
    assert rest.already == first.embedded
    assert rest.embedded + first.embedded == 29
    assert len(rest.failed) == 1 and "cannot read" in rest.failed[0][1]
    pixels = embed_project(project, load_embedder("pixels"))
    assert pixels.embedded == 30, "pixels reads stored thumbnails, not the files"
    with open_store(project, read_only=True) as store:
        counts = {m.embedder: store.embedding_count(m.id) for m in store.models()}
    assert counts == {"clip": 29, "pixels": 30}


def test_cli_import_embeds_with_a_local_checkpoint(tmp_path, project, tiny_clip):
    write_good_images(tmp_path / "photos", 6)
    # In-process: what is checked is what the import does with the checkpoint, not the
    # process (a process would import torch and open_clip again: seconds).
    result = run_main(
        "import", str(tmp_path / "photos"), "--project", str(project),
        "--weights", str(tiny_clip), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["new"] == 6
    assert report["embedded"] == 6, "new images are embedded in the import's own pass"
    assert report["embedding"]["embedded"] == 0
    assert report["embedding"]["model"].startswith("clip:")
    info = json.loads(run_main("info", "--project", str(project), "--json").stdout)
    assert [(m["embedder"], m["vectors"]) for m in info["models"]] == [("clip", 6)]


def test_cli_without_weights_says_so_before_importing(tmp_path, project):
    write_good_images(tmp_path / "photos", 2)
    # In-process (test_cli runs user errors in a real process): no torch to import again.
    result = run_main("import", str(tmp_path / "photos"), "--project", str(project))
    assert result.returncode == 2
    assert "--weights" in result.stderr and "Traceback" not in result.stderr
    assert not project.exists(), "nothing was imported with an embedder that cannot run"
    models = run_main("models", "--json")
    known = json.loads(models.stdout)["known"]
    assert {"embedder": "clip", "model": "ViT-B-32", "pretrained": "openai"}.items() <= {
        k: v for k, v in known[1].items()
    }.items()
    assert known[1]["available"] is False


@pytest.mark.parametrize("name", ["clip", "pixels"])
def test_embedding_during_import_equals_embedding_after_and_as_a_query(tmp_path, clip, name):
    embedder = clip if name == "clip" else load_embedder("pixels")
    folder = tmp_path / "photos"
    write_good_images(folder, 8)
    photo_like(77, (1200, 900)).save(folder / "big.jpg", quality=90)  # decoded in draft mode
    during, after = tmp_path / "during.duckdb", tmp_path / "after.duckdb"

    summary = import_folder(folder, during, embedder=embedder)
    import_folder(folder, after)
    embed_project(after, embedder)

    assert summary.embedded == 9
    vectors = []
    for project in (during, after):
        with open_store(project, read_only=True) as store:
            (model,) = store.models()
            by_sha = {row["id"]: row["sha256"] for row in store.image_rows()}
            ids, matrix = store.read_embeddings(model)
        vectors.append({by_sha[i]: v for i, v in zip(ids, matrix, strict=True)})
    assert vectors[0].keys() == vectors[1].keys() and len(vectors[0]) == 9
    for sha, vector in vectors[0].items():
        np.testing.assert_allclose(vector, vectors[1][sha], atol=1e-5)
    # A file given as a query (`planche search --image`) gets the vector it was stored with.
    for path in sorted(folder.iterdir()):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        np.testing.assert_allclose(embed_file(embedder, path), vectors[0][sha], atol=1e-5)


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path):
    text = tmp_path / "weights.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(PlancheError, match="cannot load CLIP weights from .*weights.pt"):
        load_embedder("clip", model="ViT-B-32", weights=text)


RELEASED_TAG = "openai"  # allowed: a tag name, never fetched (HF_HUB_OFFLINE is set)


def test_a_released_checkpoint_file_keeps_its_tag(tmp_path, monkeypatch):
    """OpenAI's ViT-B-32 needs QuickGELU: a copied file with --pretrained openai gets it."""
    import open_clip

    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here: building ViT-B-32 is not needed for this test")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", spy)
    checkpoint = tmp_path / "ViT-B-32.bin"
    checkpoint.write_bytes(b"\0")
    with pytest.raises(PlancheError):
        # The tag only names how the file was trained; the weights are the local file.
        load_embedder("clip", model="ViT-B-32", pretrained=RELEASED_TAG, weights=checkpoint)
    assert seen["force_quick_gelu"] is True
    assert seen["pretrained"] == str(checkpoint)


def test_the_default_release_is_looked_up_without_importing_open_clip(tmp_path):
    # The app's import offer waited 3 s (open_clip and torch imported) to look in two
    # folders; the default's location is kept here, checked against open_clip's table.
    import subprocess
    import sys

    import open_clip

    from planche.core.embedders.weights import KNOWN_RELEASES

    for (model, tag), known in KNOWN_RELEASES.items():
        released = open_clip.get_pretrained_cfg(model, tag)
        assert {k: released.get(k) for k in known} == known, (model, tag)
    clip_cache = tmp_path / ".cache" / "clip"
    clip_cache.mkdir(parents=True)
    (clip_cache / "ViT-B-32.pt").write_bytes(b"weights")
    found = subprocess.run(
        [sys.executable, "-c", "import sys; from planche.core import read; "
         "print(read.embedder_for_new_images()['embedder'], 'open_clip' in sys.modules)"],
        capture_output=True, text=True, check=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_CACHE": str(tmp_path / "hf")},
    )  # fmt: skip
    assert found.stdout.split() == ["clip", "False"]
