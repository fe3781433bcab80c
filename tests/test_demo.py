"""Tests for the deterministic demo folder built from package-bundled photos."""

import hashlib
import re
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, UnidentifiedImageError

from planche.core import demo
from planche.core.decode import BadImage, decode
from planche.core.demo import DemoSummary, build_demo_folder

NON_JPEG_FORMATS = ("PNG", "WEBP", "GIF", "BMP", "TIFF")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    # mktemp hands back an existing empty directory, which must be accepted.
    dest = tmp_path_factory.mktemp("demo")
    return dest, build_demo_folder(dest)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in _files(root)
    }


def _loaded_formats(root: Path) -> dict[str, str]:
    """Relative path -> Pillow format, for every file Pillow fully decodes."""
    formats = {}
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if rel == "SOURCES.md" or rel in demo.BAD_FILES:
            continue
        with Image.open(path) as im:
            im.load()
            formats[rel] = im.format
            assert max(im.size) <= demo.MAX_SIDE, rel
    return formats


def test_summary_and_images_load(built: tuple[Path, DemoSummary]) -> None:
    root, summary = built
    formats = _loaded_formats(root)
    assert len(formats) >= 60
    assert summary.dest == root
    assert summary.images == len(formats)
    assert summary.bad_files == len(demo.BAD_FILES) == 4
    assert summary.near_duplicates == len(demo.NEAR_DUPLICATES) == 4
    assert summary.byte_copies == 1
    assert summary.sources >= 15
    # Everything but SOURCES.md is either a valid image or a deliberately bad file.
    assert len(_files(root)) == summary.images + summary.bad_files + 1


def test_formats_folders_and_names(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    counts = Counter(_loaded_formats(root).values())
    assert counts["JPEG"] > sum(counts[f] for f in NON_JPEG_FORMATS)
    for fmt in NON_JPEG_FORMATS:
        assert counts[fmt] >= 2, fmt
    folders = {p.name for p in root.iterdir() if p.is_dir()}
    assert {"space", "animals", "science", "things", "textures", "incoming"} <= folders
    assert any(" " in name and not name.isascii() for name in folders)
    assert any(" " in p.name and not p.name.isascii() for p in _files(root))


def test_total_size_is_small(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    assert sum(p.stat().st_size for p in _files(root)) < 12 * 1024 * 1024


def test_build_is_byte_identical_and_creates_parents(
    built: tuple[Path, DemoSummary], tmp_path: Path
) -> None:
    root, first = built
    again = tmp_path / "does" / "not" / "exist"
    second = build_demo_folder(again)
    assert second.dest == again
    assert _digests(root) == _digests(again)
    assert (first.images, first.bad_files, first.sources) == (
        second.images,
        second.bad_files,
        second.sources,
    )


def test_bad_files_fail_to_load(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    assert any(rel.startswith("incoming/") for rel in demo.BAD_FILES)
    assert any(not rel.startswith("incoming/") for rel in demo.BAD_FILES)
    names = {Path(rel).name for rel in demo.BAD_FILES}
    assert {"empty.png", "notes.jpg"} <= names
    assert (root / "incoming" / "empty.png").stat().st_size == 0

    bomb = next(rel for rel in demo.BAD_FILES if rel.endswith(".png") and "empty" not in rel)
    for rel in demo.BAD_FILES:
        if rel == bomb:
            continue
        with pytest.raises((UnidentifiedImageError, OSError)), Image.open(root / rel) as im:
            im.load()


def test_truncated_jpeg_is_a_prefix_of_a_valid_one(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    truncated = (root / demo._TRUNCATED).read_bytes()
    whole = (root / demo._TRUNCATED_FROM).read_bytes()
    assert whole.startswith(truncated)
    assert len(truncated) == len(whole) * 2 // 5
    # Pillow can read the header, so the failure only shows up when decoding pixels.
    with Image.open(root / demo._TRUNCATED) as im:
        assert im.format == "JPEG"
        with pytest.raises(OSError, match="truncated"):
            im.load()


def test_decompression_bomb(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    data = (root / demo._BOMB).read_bytes()
    assert len(data) < 1024
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (60_000, 60_000)
    # planche's decoder refuses it from the header, before any pixel is decoded.
    with pytest.raises(BadImage, match="60000x60000"):
        decode(data)


def test_rotated_jpeg_is_upright_after_exif_transpose(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    shot = next(s for s in demo._SHOTS if s.rotated)
    assert shot.path == demo.ROTATED_JPEG
    sources = demo._usable_sources()
    upright = demo._cut(demo._open_source(sources[shot.source][1]), shot.box)
    assert upright.width != upright.height  # otherwise a missing rotation could go unnoticed

    with Image.open(root / demo.ROTATED_JPEG) as im:
        assert im.getexif()[0x0112] in (6, 8)
        assert im.size == (upright.height, upright.width)
        fixed = ImageOps.exif_transpose(im)
    assert fixed.size == upright.size
    diff = np.abs(np.asarray(fixed, dtype=np.int16) - np.asarray(upright, dtype=np.int16))
    assert diff.mean() < 4  # JPEG noise only; a wrong rotation direction gives tens


def test_exif_dates(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    dates = {}
    for path in _files(root):
        if path.suffix.lower() != ".jpg" or path.relative_to(root).as_posix() in demo.BAD_FILES:
            continue
        with Image.open(path) as im:
            exif = im.getexif()
            original = exif.get_ifd(0x8769).get(36867)
            if original:
                assert exif.get(306) == original
                dates[path.relative_to(root).as_posix()] = original
    assert len(set(dates.values())) >= 3
    assert dates == dict(demo.DATED_JPEGS)


def test_near_duplicates(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    for copy, original in demo.NEAR_DUPLICATES.items():
        assert Path(copy).parent != Path(original).parent
        assert (root / copy).read_bytes() != (root / original).read_bytes()
        with Image.open(root / copy) as a, Image.open(root / original) as b:
            small = np.asarray(a.convert("L").resize((32, 32)), dtype=np.float64)
            ref = np.asarray(b.convert("L").resize((32, 32)), dtype=np.float64)
            assert np.corrcoef(small.ravel(), ref.ravel())[0, 1] > 0.9, copy
    kinds = {kind for _, kind in demo._NEAR_DUPLICATE_KINDS.values()}
    assert kinds == {"downscale", "jpeg35", "brighter", "centre_crop"}


def test_byte_copy(built: tuple[Path, DemoSummary]) -> None:
    root, _ = built
    original, copy = demo.BYTE_COPY
    assert Path(original).name != Path(copy).name
    assert (
        hashlib.sha256((root / original).read_bytes()).digest()
        == hashlib.sha256((root / copy).read_bytes()).digest()
    )


def test_sources_md_names_every_source(built: tuple[Path, DemoSummary]) -> None:
    root, summary = built
    text = (root / "SOURCES.md").read_text(encoding="utf-8")
    used = {shot.source for shot in demo._SHOTS}
    assert len(used) == summary.sources
    for name in used:
        assert name in text, name
        assert demo._SOURCES[name].licence in text
    for rel in _loaded_formats(root):
        assert f"`{rel}`" in text, rel
    # Photos the packages ship without a licence statement must not be used.
    for excluded in ("moon.png", "page.png", "motorcycle_left.png"):
        assert f"| {excluded}" not in text
    assert "creativecommons.org/licenses/by/2.0" in text


def test_non_empty_dest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match=re.escape(str(tmp_path))):
        build_demo_folder(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_dest_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    target.write_bytes(b"")
    with pytest.raises(FileExistsError):
        build_demo_folder(target)
