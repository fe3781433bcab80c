"""The GPU path's logic, run on the CPU: the same functions with device="cpu".

On a GPU machine the CLIP embedder hands decoded pixels (or JPEG bytes) to the
device, which resizes, crops and normalises a batch at once. Its input must be
CLIP's own transform's, to the rounding of the arithmetic, or vectors made on a
GPU would not match vectors made on a laptop.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import jpeg_bytes, photo_like
from planche.core.embed import embed_project
from planche.core.embedders.clip import ClipEmbedder
from planche.core.embedders.device_preprocess import DevicePreprocess, batch_size_for_memory
from planche.core.ingest import import_folder
from planche.core.store import open_store


def _real_photos() -> list[Image.Image]:
    """Real photos of several shapes, shipped with scikit-image (public domain)."""
    from skimage import data

    photos = [Image.fromarray(data.astronaut()), Image.fromarray(data.coffee()),
              Image.fromarray(data.chelsea())]  # fmt: skip
    photos.append(photos[1].resize((640, 123)))  # a panorama
    photos.append(photos[2].rotate(90, expand=True))  # a portrait
    return photos


@pytest.mark.parametrize("size", [224, 32])
def test_the_device_transform_is_clips_own(size):
    import open_clip

    _, _, transform = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    if size != 224:
        transform = open_clip.image_transform(size, is_train=False)
    on_device = DevicePreprocess.from_transform(transform, "cpu")
    assert on_device is not None and on_device.size == size
    photos = _real_photos()
    expected = torch.stack([transform(photo) for photo in photos])
    from_pixels = on_device([np.asarray(photo) for photo in photos])
    from_jpeg = on_device([jpeg_bytes(photo) for photo in photos])
    decoded_by_pillow = torch.stack(
        [transform(Image.open(io.BytesIO(jpeg_bytes(p))).convert("RGB")) for p in photos]
    )
    assert from_pixels.shape == expected.shape == (len(photos), 3, size, size)
    # Normalised values span about -1.8..2.1; resizing differs by rounding only.
    assert float((from_pixels - expected).abs().mean()) < 2e-3
    assert float((from_jpeg - decoded_by_pillow).abs().mean()) < 2e-2


def _awkward_jpegs() -> dict[str, bytes]:
    """JPEGs a device decoder may see differently: turned by EXIF, CMYK, progressive, grey."""
    photo = _real_photos()[1]
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    out = {}
    for name, image, options in (
        ("exif-rotated", photo, {"exif": exif}),
        ("cmyk", photo.convert("CMYK"), {}),
        ("progressive", photo, {"progressive": True}),
        ("grey", photo.convert("L"), {}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90, **options)
        out[name] = buffer.getvalue()
    return out


def test_awkward_jpegs_decoded_on_the_device_match_the_cpu():
    import open_clip

    from planche.core.decode import decode

    _, _, transform = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    on_device = DevicePreprocess.from_transform(transform, "cpu")
    assert on_device is not None
    for name, data in _awkward_jpegs().items():
        expected = transform(decode(data).image)
        got = on_device([data])[0]
        assert got.shape == expected.shape, name
        assert float((got - expected).abs().mean()) < 2e-2, name


def test_a_transform_it_does_not_know_stays_on_the_cpu():
    import open_clip

    squash = open_clip.image_transform(224, is_train=False, resize_mode="squash")
    longest = open_clip.image_transform(224, is_train=False, resize_mode="longest")
    assert DevicePreprocess.from_transform(squash, "cpu") is None
    assert DevicePreprocess.from_transform(longest, "cpu") is None


def test_an_import_prepared_on_the_device_gives_the_vectors_of_one_prepared_on_the_cpu(
    tmp_path, tiny_clip
):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, photo in enumerate(_real_photos()):
        photo.save(folder / f"photo_{i}.jpg", quality=92)
    photo_like(5, (300, 200)).convert("L").save(folder / "grey.png")
    for name, data in _awkward_jpegs().items():
        (folder / f"{name}.jpg").write_bytes(data)
    vectors = []
    for on_device in (False, True):
        embedder = ClipEmbedder("ViT-B-32", None, tiny_clip, device="cpu", precision="fp32",
                                preprocess_on_device=on_device)  # fmt: skip
        assert embedder.decodes_jpeg == on_device
        project = tmp_path / f"on_device_{on_device}.duckdb"
        summary = import_folder(folder, project, embedder=embedder)
        assert summary.embedded == 10 and not summary.failed
        vectors.append(_vectors(project))
        if on_device:  # `planche embed` of an imported project: files read again
            later = tmp_path / "embedded_later.duckdb"
            import_folder(folder, later)
            assert embed_project(later, embedder).embedded == 10
            vectors.append(_vectors(later))
    for other in vectors[1:]:
        cosines = np.sum(vectors[0] * other, axis=1)
        assert cosines.min() >= 0.9999, cosines


def _vectors(project: Path) -> np.ndarray:
    with open_store(project, read_only=True) as store:
        return store.read_embeddings(store.models()[0])[1]


def test_the_batch_fills_the_free_memory_in_powers_of_two():
    mib = 1024 * 1024
    assert batch_size_for_memory(80 * 1024 * mib, 20 * mib) == 1024  # an H100: the cap
    assert batch_size_for_memory(2 * 1024 * mib, 20 * mib) == 32  # 61 fit, the power below
    assert batch_size_for_memory(100 * mib, 20 * mib) == 16  # never below the smallest
    assert batch_size_for_memory(10 * 1024 * mib, 0) == 1024
