"""Importing folders: formats, identity by content, re-runs, and every kind of bad file."""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import bomb_png, jpeg_bytes, photo_like, write_good_images
from planche.core.errors import BadParameter
from planche.core.ingest import import_folder
from planche.core.progress import CancelToken
from planche.core.store import open_store


def _images_by_path(project: Path) -> dict[str, dict]:
    with open_store(project, read_only=True) as store:
        return {Path(path).name: row for row in store.image_rows() for path in row["paths"]}


def _thumbnail(project: Path, image_id: int) -> Image.Image:
    with open_store(project, read_only=True) as store:
        data = store.thumbnail(image_id)
    assert data is not None
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_every_supported_format_is_imported_with_size_and_thumbnail(tmp_path, project):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (suffix, fmt) in enumerate(
        [
            (".jpg", "JPEG"),
            (".png", "PNG"),
            (".webp", "WEBP"),
            (".bmp", "BMP"),
            (".tiff", "TIFF"),
            (".heic", "HEIF"),
            (".avif", "AVIF"),
        ]
    ):
        photo_like(i, (90, 60)).save(folder / f"picture{suffix}", format=fmt)
    frames = [photo_like(100 + i, (50, 40)) for i in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100)

    summary = import_folder(folder, project)

    assert summary.failed == []
    assert summary.new == 8
    rows = _images_by_path(project)
    assert {rows[n]["format"] for n in rows} == {
        "JPEG", "PNG", "WEBP", "BMP", "TIFF", "HEIF", "AVIF", "GIF"
    }  # fmt: skip
    assert (rows["picture.jpg"]["width"], rows["picture.jpg"]["height"]) == (90, 60)
    assert (rows["anim.gif"]["width"], rows["anim.gif"]["height"]) == (50, 40)
    thumb = _thumbnail(project, rows["anim.gif"]["id"])
    first_frame = frames[0].convert("RGB").resize(thumb.size)
    diff = np.abs(np.asarray(thumb, float) - np.asarray(first_frame, float)).mean()
    assert diff < 20, "the thumbnail of an animation shows its first frame"


def test_same_bytes_at_two_paths_are_one_image_with_two_files(tmp_path, project):
    folder = tmp_path / "photos"
    (original,) = write_good_images(folder, 1)
    (folder / "sub").mkdir()
    (folder / "sub" / "copy of it.jpg").write_bytes(original.read_bytes())

    summary = import_folder(folder, project)

    assert (summary.new, summary.duplicates) == (1, 1)
    with open_store(project, read_only=True) as store:
        assert store.counts()["images"] == 1
        assert store.counts()["files"] == 2
        assert len(store.image_rows()[0]["paths"]) == 2


@pytest.mark.parametrize("workers", [1, 4])
def test_byte_copies_read_together_are_decoded_once_and_share_a_failure(
    tmp_path, project, monkeypatch, workers
):
    import planche.core.ingest as ingest

    folder = tmp_path / "photos"
    (original,) = write_good_images(folder, 1)
    good = jpeg_bytes(photo_like(11, (200, 150)))
    for i in range(5):
        (folder / f"copy {i}.jpg").write_bytes(original.read_bytes())
        (folder / f"broken {i}.jpg").write_bytes(good[: len(good) // 3])
    decoded = []
    real_decode = ingest.decode
    monkeypatch.setattr(ingest, "decode", lambda data, **kw: decoded.append(1) or real_decode(
        data, **kw))  # fmt: skip

    summary = import_folder(folder, project, workers=workers)

    assert (summary.new, summary.duplicates) == (1, 5)
    reasons = {Path(p).name: r for p, r in summary.failed}
    assert sorted(reasons) == [f"broken {i}.jpg" for i in range(5)]
    assert len(set(reasons.values())) == 1 and "truncated" in reasons["broken 0.jpg"]
    if workers == 1:  # in order: every later copy finds the first one's claim
        assert len(decoded) == 2
    with open_store(project, read_only=True) as store:
        assert (store.counts()["images"], store.counts()["files"]) == (1, 6)
        assert {Path(p).name for p, _ in store.import_errors()} == set(reasons)
    rerun = import_folder(folder, project, workers=workers)
    assert (rerun.new, rerun.known, rerun.failed_before) == (0, 6, 5)


def test_rerun_imports_only_new_or_changed_files(tmp_path, project):
    folder = tmp_path / "photos"
    paths = write_good_images(folder, 5)
    import_folder(folder, project)

    again = import_folder(folder, project)
    assert (again.new, again.known, again.duplicates) == (0, 5, 0)

    write_good_images(folder, 2, start_seed=50)
    paths[0].write_bytes(jpeg_bytes(photo_like(999)))  # edited in place
    os.utime(paths[0], (1_000_000_000, 1_000_000_000))
    third = import_folder(folder, project)

    assert (third.new, third.updated, third.known) == (3, 1, 4)
    with open_store(project, read_only=True) as store:
        counts = store.counts()
    # The edited file's old content is gone with it: 7 files, 7 images.
    assert (counts["images"], counts["files"]) == (7, 7)


def test_exif_orientation_and_date_are_applied(tmp_path, project):
    folder = tmp_path / "photos"
    folder.mkdir()
    wide = photo_like(7, (80, 40))
    exif = Image.Exif()
    exif[274] = 6  # the camera was turned: show rotated 90 degrees clockwise
    exif.get_ifd(0x8769)[36867] = "2021:06:05 14:30:00"
    (folder / "turned.jpg").write_bytes(jpeg_bytes(wide, exif=exif.tobytes()))

    import_folder(folder, project)

    row = _images_by_path(project)["turned.jpg"]
    assert (row["width"], row["height"]) == (40, 80)
    assert row["exif_date"] == datetime(2021, 6, 5, 14, 30)
    thumb = _thumbnail(project, row["id"])
    assert thumb.height > thumb.width


def test_awkward_but_valid_images_are_imported_faithfully(tmp_path, project):
    folder = tmp_path / "photos"
    folder.mkdir()
    # 16-bit greyscale: a plain conversion would clip it to white.
    ramp = np.tile(np.linspace(0, 4000, 64), (32, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(folder / "scan16.png")
    photo_like(3).convert("CMYK").save(folder / "print cmyk.jpg", format="JPEG")
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    palette.paste(1, (20, 0, 40, 40))
    palette.save(folder / "palette alpha.png", transparency=0)
    Image.new("RGB", (1, 1), (10, 200, 30)).save(folder / "dot.png")
    photo_like(4).save(folder / "façade été 日本.jpg")
    Image.new("LA", (20, 20), (128, 0)).save(folder / "grey alpha.png")

    summary = import_folder(folder, project)

    assert summary.failed == []
    assert summary.new == 6
    rows = _images_by_path(project)
    scan = np.asarray(_thumbnail(project, rows["scan16.png"]["id"]))
    assert scan[:, :8].mean() < 60 and scan[:, -8:].mean() > 190, "16-bit ramp keeps its range"
    pal = np.asarray(_thumbnail(project, rows["palette alpha.png"]["id"]), float)
    assert pal[:, :10].mean() > 240, "transparent pixels become white, not palette red"
    assert pal[:, -10:, 2].mean() > 200 and pal[:, -10:, 0].mean() < 60
    assert rows["dot.png"]["width"] == 1
    assert rows["print cmyk.jpg"]["mode"] == "CMYK"
    assert "façade été 日本.jpg" in rows


def test_bad_files_are_recorded_with_reasons_and_the_rest_is_imported(tmp_path, project):
    folder = tmp_path / "photos"
    write_good_images(folder, 3)
    good = jpeg_bytes(photo_like(11, (200, 150)))
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("these are my holiday notes\n")
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "self.jpg").symlink_to(folder / "self.jpg")
    (folder / "gone.jpg").symlink_to(folder / "missing.jpg")
    (folder / "sub").mkdir()
    (folder / "sub" / "back up").symlink_to(folder)
    (folder / "readme.txt").write_text("not an image suffix: ignored")

    summary = import_folder(folder, project)

    reasons = {Path(p).name: r for p, r in summary.failed}
    assert summary.new == 3
    assert set(reasons) == {
        "truncated.jpg", "empty.jpg", "notes.jpg", "bomb.png", "self.jpg", "gone.jpg", "back up"
    }  # fmt: skip
    assert "truncated" in reasons["truncated.jpg"]
    assert "empty file" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "60000x60000" in reasons["bomb.png"] and "decompression bomb" in reasons["bomb.png"]
    assert "loop" in reasons["self.jpg"]
    assert "broken" in reasons["gone.jpg"]
    assert "loop" in reasons["back up"]
    with open_store(project, read_only=True) as store:
        stored = {Path(p).name: r for p, r in store.import_errors()}
    assert stored == reasons

    # Unchanged bad files are not read again; a repaired one is imported.
    (folder / "truncated.jpg").write_bytes(good)
    rerun = import_folder(folder, project)
    assert rerun.new == 1
    assert rerun.failed_before == 6 and rerun.failed == [], "unchanged failures are not redone"
    with open_store(project, read_only=True) as store:
        remaining = {Path(p).name for p, _ in store.import_errors()}
    assert "truncated.jpg" not in remaining


def test_max_pixels_limit_is_a_parameter(tmp_path, project):
    folder = tmp_path / "photos"
    write_good_images(folder, 2)
    summary = import_folder(folder, project, max_pixels=1000)
    assert summary.new == 0
    assert all("over the limit" in reason for _, reason in summary.failed)
    with pytest.raises(BadParameter, match="max_pixels"):
        import_folder(folder, project, max_pixels=0)
    with pytest.raises(BadParameter, match="FOLDER"):
        import_folder(tmp_path / "nowhere", project)


def test_cancel_keeps_what_was_done_and_a_rerun_completes(tmp_path, project):
    folder = tmp_path / "photos"
    write_good_images(folder, 40)
    token = CancelToken()

    def stop_after_ten(event):
        if event.phase == "import" and event.done >= 10:
            token.cancel()

    first = import_folder(folder, project, workers=1, batch_size=4, progress=stop_after_ten,
                          cancel=token)  # fmt: skip
    assert first.cancelled
    assert 10 <= first.new < 40
    second = import_folder(folder, project)
    assert second.new == 40 - first.new
    with open_store(project, read_only=True) as store:
        assert store.counts()["images"] == 40
