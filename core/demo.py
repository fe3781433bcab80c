"""Build a deterministic demo image folder from real photos shipped inside installed packages.

scikit-image ships a handful of real photographs in its wheel (``skimage/data/``) and
scikit-learn ships two (``sklearn/datasets/images/``). From those, :func:`build_demo_folder`
writes a small themed collection: full photos and crops in several formats, EXIF dates and
an EXIF-rotated JPEG, near-duplicates, a byte-identical copy and a few broken files. It never
touches the network, and the output is byte-identical on every run with the same library
versions, so tests and screenshots can rely on it.

Only sources whose licence statement (as the packages themselves ship it) allows
redistribution are used; ``SOURCES.md`` in the output quotes those statements.
"""

import ast
import importlib.metadata
import importlib.util
import io
import re
import shutil
import struct
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageEnhance

MAX_SIDE = 640
JPEG_QUALITY = 90

__all__ = [
    "BAD_FILES",
    "BYTE_COPY",
    "DATED_JPEGS",
    "NEAR_DUPLICATES",
    "ROTATED_JPEG",
    "DemoSummary",
    "build_demo_folder",
]


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`build_demo_folder` wrote."""

    dest: Path
    images: int  # valid image files, near-duplicates and the byte copy included
    bad_files: int
    near_duplicates: int
    byte_copies: int
    sources: int  # source photos actually used


@dataclass(frozen=True)
class _Source:
    package: str  # "skimage" or "sklearn"
    file: str  # path relative to the package's image folder
    title: str
    licence: str  # short label; justified by the quoted statement
    # Sentences that must appear verbatim in the statement the package ships. If a future
    # version words it differently we cannot vouch for the licence, so the source is skipped.
    statement: tuple[str, ...]


@dataclass(frozen=True)
class _Shot:
    source: str
    path: str
    box: tuple[float, float, float, float] | None = None  # fractions of width/height
    fmt: str = "JPEG"
    date: str | None = None  # EXIF "YYYY:MM:DD HH:MM:SS"
    rotated: bool = False  # store pixels rotated, with EXIF Orientation 6


_SKIMAGE = "skimage"
_SKLEARN = "sklearn"

_SOURCES: dict[str, _Source] = {
    s.file: s
    for s in [
        _Source(
            _SKIMAGE,
            "astronaut.png",
            "Astronaut Eileen Collins",
            "Public domain",
            (
                "This image was downloaded from the NASA Great Images database "
                "<https://flic.kr/p/r9qvLn>.",
                "No known copyright restrictions, released into the public domain.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "hubble_deep_field.jpg",
            "Hubble eXtreme Deep Field",
            "Public domain",
            (
                "This image was downloaded from HubbleSite "
                "<http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/>.",
                "The image was captured by NASA and may be freely used in the public domain "
                "<http://www.nasa.gov/audience/formedia/features/MP_Photo_Guidelines.html>.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "rocket.jpg",
            "Launch of DSCOVR on Falcon 9 (SpaceX)",
            "Public domain",
            (
                "This image was downloaded from SpaceX Photos "
                "<https://www.flickr.com/photos/spacexphotos/16511594820/in/photostream/>.",
                "The image was captured by SpaceX and released in the public domain "
                "<http://arstechnica.com/tech-policy/2015/03/"
                "elon-musk-puts-spacex-photos-into-the-public-domain/>.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "chelsea.png",
            "Chelsea the cat",
            "CC0",
            ("No copyright restrictions. CC0 by the photographer (Stefan van der Walt).",),
        ),
        _Source(
            _SKIMAGE,
            "cell.png",
            "Cell floating in saline (quantitative phase image)",
            "CC0",
            (
                "This image is CC0, dedicated to the public domain. You may copy, modify, or "
                "distribute it without asking permission.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "ihc.png",
            "Immunohistochemical staining of colonic glands",
            "No known copyright restrictions",
            (
                "This image was acquired at the Center for Microscopy And Molecular Imaging "
                "(CMMI).",
                "No known copyright restrictions.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "retina.jpg",
            "Human retina (fundus photograph)",
            "CC0",
            (
                "This image was downloaded from wikimedia <https://commons.wikimedia.org/wiki/"
                "File:Fundus_photograph_of_normal_left_eye.jpg>.",
                "This file is made available under the Creative Commons CC0 1.0 Universal "
                "Public Domain Dedication.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "camera.png",
            "Man with a camera on a tripod",
            "CC0",
            ("No copyright restrictions. CC0 by the photographer (Lav Varshney).",),
        ),
        _Source(
            _SKIMAGE,
            "clock_motion.png",
            "Motion-blurred wall clock",
            "Public domain",
            ("Released into the public domain by the photographer (Stefan van der Walt).",),
        ),
        _Source(
            _SKIMAGE,
            "coffee.png",
            "Coffee cup (Pikolo Espresso Bar)",
            "CC0",
            (
                "This photograph is courtesy of Pikolo Espresso Bar.",
                "No copyright restrictions. CC0 by the photographer (Rachel Michetti).",
            ),
        ),
        _Source(
            _SKIMAGE,
            "coins.png",
            "Greek coins from Pompeii",
            "No known copyright restrictions",
            (
                "This image was downloaded from the Brooklyn Museum Collection "
                "<https://www.brooklynmuseum.org/opencollection/archives/image/51611>.",
                "No known copyright restrictions.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "text.png",
            "Handwritten text on paper",
            "Public domain",
            (
                "This image was downloaded from Wikipedia "
                "<https://en.wikipedia.org/wiki/File:Corner.png>.",
                "No known copyright restrictions, released into the public domain.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "brick.png",
            "Brick wall",
            "CC0",
            (
                "The original image was downloaded from CC0Textures "
                "<https://cc0textures.com/view.php?tex=Bricks25> and licensed under the "
                "Creative Commons CC0 License.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "grass.png",
            "Grass",
            "CC0",
            (
                "The original image was downloaded from DeviantArt "
                "<https://www.deviantart.com/linolafett/art/Grass-01-434853879> and licensed "
                "under the Creative Commons CC0 License.",
            ),
        ),
        _Source(
            _SKIMAGE,
            "gravel.png",
            "Gravel",
            "CC0",
            (
                "The original image was downloaded from CC0Textures "
                "<https://cc0textures.com/view.php?tex=Gravel04> and licensed under the "
                "Creative Commons CC0 License.",
            ),
        ),
        _Source(
            _SKLEARN,
            "china.jpg",
            "Pagoda above a lake",
            "CC BY 2.0 (attribution required)",
            ("https://creativecommons.org/licenses/by/2.0/",),
        ),
        _Source(
            _SKLEARN,
            "flower.jpg",
            "Orange dahlia",
            "CC BY 2.0 (attribution required)",
            ("https://creativecommons.org/licenses/by/2.0/",),
        ),
    ]
}

_SUMMER = "été 2024"

# Crop boxes were picked by eye so each crop shows a different part of its photo.
_SHOTS: tuple[_Shot, ...] = (
    # space
    _Shot("astronaut.png", "space/astronaut.jpg"),
    _Shot("astronaut.png", "space/astronaut_face.jpg", (0.25, 0.0, 0.65, 0.42)),
    _Shot("astronaut.png", "space/shuttle_model.png", (0.68, 0.0, 0.93, 0.56), "PNG"),
    _Shot("astronaut.png", "space/flag.tiff", (0.0, 0.0, 0.2, 0.55), "TIFF"),
    _Shot("hubble_deep_field.jpg", "space/deep_field.jpg"),
    _Shot("hubble_deep_field.jpg", "space/deep_field_nw.jpg", (0.0, 0.0, 0.5, 0.5)),
    _Shot("hubble_deep_field.jpg", "space/deep_field_se.webp", (0.5, 0.5, 1.0, 1.0), "WEBP"),
    _Shot("hubble_deep_field.jpg", "space/deep_field_centre.gif", (0.35, 0.35, 0.62, 0.62), "GIF"),
    _Shot("rocket.jpg", "space/rocket_launch.jpg"),
    _Shot("rocket.jpg", "space/falcon9.bmp", (0.42, 0.12, 0.58, 1.0), "BMP"),
    _Shot("rocket.jpg", "space/pad_lights.jpg", (0.0, 0.72, 1.0, 1.0)),
    _Shot("rocket.jpg", "space/tower.jpg", (0.0, 0.0, 0.26, 0.9)),
    # animals
    _Shot("chelsea.png", "animals/chelsea.jpg", date="2023:12:24 16:20:00"),
    _Shot("chelsea.png", "animals/chelsea_eye.jpg", (0.18, 0.15, 0.5, 0.62)),
    _Shot("chelsea.png", "animals/chelsea_nose.webp", (0.4, 0.5, 0.75, 1.0), "WEBP"),
    _Shot("chelsea.png", "animals/chelsea_ear.jpg", (0.68, 0.0, 1.0, 0.42)),
    # science
    _Shot("cell.png", "science/cell.jpg"),
    _Shot("cell.png", "science/cell_closeup.bmp", (0.45, 0.35, 0.85, 0.75), "BMP"),
    _Shot("cell.png", "science/cell_background.jpg", (0.0, 0.0, 0.5, 0.3)),
    _Shot("ihc.png", "science/ihc.jpg"),
    _Shot("ihc.png", "science/ihc_glands.png", (0.0, 0.0, 0.5, 0.5), "PNG"),
    _Shot("ihc.png", "science/ihc_stroma.jpg", (0.5, 0.5, 1.0, 1.0)),
    _Shot("ihc.png", "science/ihc_top.jpg", (0.45, 0.0, 0.8, 0.45)),
    _Shot("retina.jpg", "science/retina.jpg"),
    _Shot("retina.jpg", "science/optic_disc.tiff", (0.0, 0.3, 0.35, 0.65), "TIFF"),
    _Shot("retina.jpg", "science/macula.jpg", (0.35, 0.35, 0.65, 0.65)),
    _Shot("retina.jpg", "science/retina_vessels.jpg", (0.2, 0.0, 0.8, 0.3)),
    # things
    _Shot("camera.png", "things/cameraman.jpg"),
    _Shot("camera.png", "things/tripod.jpg", (0.45, 0.2, 0.82, 1.0)),
    _Shot("camera.png", "things/photographer.jpg", (0.3, 0.08, 0.62, 0.45)),
    _Shot("camera.png", "things/skyline.jpg", (0.6, 0.12, 1.0, 0.45)),
    _Shot("clock_motion.png", "things/clock.jpg"),
    _Shot("clock_motion.png", "things/clock_face.gif", (0.3, 0.22, 0.75, 0.68), "GIF"),
    _Shot("clock_motion.png", "things/clock_left.jpg", (0.25, 0.2, 0.52, 0.72)),
    _Shot("coffee.png", "things/café crème.jpg"),
    _Shot("coffee.png", "things/coffee_cup.jpg", (0.25, 0.0, 0.75, 0.55)),
    _Shot("coffee.png", "things/spoon.webp", (0.5, 0.5, 0.78, 0.88), "WEBP"),
    _Shot("coffee.png", "things/table.jpg", (0.75, 0.0, 1.0, 0.6)),
    _Shot("coins.png", "things/coins.jpg"),
    _Shot("coins.png", "things/coins_top_row.png", (0.0, 0.0, 1.0, 0.3), "PNG"),
    _Shot("coins.png", "things/coin_large.jpg", (0.74, 0.0, 1.0, 0.3)),
    _Shot("coins.png", "things/coins_bottom.jpg", (0.0, 0.55, 0.55, 0.85)),
    _Shot("text.png", "things/handwriting.jpg"),
    _Shot("text.png", "things/handwriting_left.jpg", (0.0, 0.0, 0.5, 1.0)),
    _Shot("text.png", "things/handwriting_right.jpg", (0.5, 0.0, 1.0, 1.0)),
    # textures
    _Shot("brick.png", "textures/brick.jpg"),
    _Shot("brick.png", "textures/brick_top.bmp", (0.0, 0.0, 0.5, 0.5), "BMP"),
    _Shot("brick.png", "textures/brick_bottom.jpg", (0.5, 0.5, 1.0, 1.0)),
    _Shot("grass.png", "textures/grass.jpg"),
    _Shot("grass.png", "textures/grass_patch.tiff", (0.0, 0.0, 0.5, 0.5), "TIFF"),
    _Shot("grass.png", "textures/grass_corner.jpg", (0.5, 0.5, 1.0, 1.0)),
    _Shot("gravel.png", "textures/gravel.jpg"),
    _Shot("gravel.png", "textures/gravel_patch.gif", (0.0, 0.0, 0.5, 0.5), "GIF"),
    _Shot("gravel.png", "textures/gravel_corner.jpg", (0.5, 0.5, 1.0, 1.0)),
    # a "holiday" folder: non-ASCII names and camera-style EXIF dates
    _Shot("china.jpg", f"{_SUMMER}/pagode.jpg", date="2024:07:14 18:05:12"),
    _Shot(
        "china.jpg",
        f"{_SUMMER}/pagode détail.jpg",
        (0.1, 0.05, 0.55, 0.9),
        date="2024:07:14 18:07:31",
    ),
    _Shot("china.jpg", f"{_SUMMER}/lac.jpg", (0.55, 0.4, 0.88, 0.63)),
    _Shot("china.jpg", f"{_SUMMER}/arbres.png", (0.82, 0.3, 1.0, 1.0), "PNG"),
    _Shot("flower.jpg", f"{_SUMMER}/dahlia.jpg", date="2024:08:02 09:41:05"),
    _Shot(
        "flower.jpg",
        f"{_SUMMER}/dahlia orangé.jpg",
        (0.28, 0.12, 0.66, 0.86),
        date="2024:08:02 09:42:47",
        rotated=True,
    ),
    _Shot("flower.jpg", f"{_SUMMER}/bouton.jpg", (0.38, 0.84, 0.72, 1.0)),
    _Shot("flower.jpg", f"{_SUMMER}/feuillage.jpg", (0.0, 0.0, 0.26, 0.55)),
)

# copy path -> (original path, how it was derived)
_NEAR_DUPLICATE_KINDS: dict[str, tuple[str, str]] = {
    "incoming/rocket_launch_small.jpg": ("space/rocket_launch.jpg", "downscale"),
    "incoming/coffee (WhatsApp).jpg": ("things/café crème.jpg", "jpeg35"),
    f"{_SUMMER}/chat éclairci.jpg": ("animals/chelsea.jpg", "brighter"),
    "incoming/pagode recadrée.jpg": (f"{_SUMMER}/pagode.jpg", "centre_crop"),
}

NEAR_DUPLICATES: Mapping[str, str] = {k: v[0] for k, v in _NEAR_DUPLICATE_KINDS.items()}
"""Near-duplicate relative path -> relative path of the image it was derived from."""

BYTE_COPY: tuple[str, str] = ("space/astronaut.jpg", "incoming/astronaut copy.jpg")
"""(original, copy): the copy has exactly the original's bytes."""

ROTATED_JPEG = f"{_SUMMER}/dahlia orangé.jpg"
"""JPEG stored with its pixels rotated and EXIF Orientation 6."""

DATED_JPEGS: Mapping[str, str] = {s.path: s.date for s in _SHOTS if s.date}
"""JPEGs carrying EXIF DateTimeOriginal, relative path -> date."""

_TRUNCATED = "incoming/truncated_download.jpg"
_TRUNCATED_FROM = "science/retina.jpg"
_EMPTY = "incoming/empty.png"
_TEXT_AS_JPEG = "incoming/notes.jpg"
_BOMB = "space/mosaic_60000px.png"
BAD_FILES: tuple[str, ...] = (_TRUNCATED, _EMPTY, _TEXT_AS_JPEG, _BOMB)
"""Files that look like images but must fail to decode."""

_BOMB_SIDE = 60_000

_TAG_DATETIME = 0x0132
_TAG_ORIENTATION = 0x0112
_IFD_EXIF = 0x8769
_TAG_DATETIME_ORIGINAL = 0x9003


def build_demo_folder(dest: Path) -> DemoSummary:
    """Write the demo image folder into ``dest`` (created with its parents if needed).

    Raises FileExistsError if ``dest`` exists and is not an empty directory, so an
    existing collection is never mixed with demo files.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"demo destination {dest} already exists and is not empty")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return _build(dest)
    except BaseException:
        # A half-built demo would look like a valid one; leave the place as we found it.
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def _build(dest: Path) -> DemoSummary:
    sources = _usable_sources()
    if not any(s.package == _SKIMAGE for s, _ in sources.values()):
        raise RuntimeError(
            "the demo folder needs scikit-image's bundled photos; "
            "install it with: pip install 'planche[demo]'"
        )
    photos: dict[str, Image.Image] = {}
    pixels: dict[str, Image.Image] = {}  # upright pixels of every written shot
    encoded: dict[str, bytes] = {}
    used: dict[str, list[str]] = {}

    for shot in _SHOTS:
        if shot.source not in sources:
            continue
        if shot.source not in photos:
            photos[shot.source] = _open_source(sources[shot.source][1])
        upright = _cut(photos[shot.source], shot.box)
        data = _encode(upright, shot)
        _write(dest, shot.path, data)
        pixels[shot.path], encoded[shot.path] = upright, data
        used.setdefault(shot.source, []).append(shot.path)

    near = 0
    for path, (original, kind) in _NEAR_DUPLICATE_KINDS.items():
        if original not in pixels:
            continue
        data = _near_duplicate(pixels[original], encoded[original], kind)
        _write(dest, path, data)
        near += 1
        used[_source_of(original)].append(path)

    copies = 0
    original, copy = BYTE_COPY
    if original in encoded:
        _write(dest, copy, encoded[original])
        copies += 1
        used[_source_of(original)].append(copy)

    bad = _write_bad_files(dest, encoded)
    (dest / "SOURCES.md").write_text(_sources_markdown(sources, used, bad), encoding="utf-8")
    return DemoSummary(
        dest=dest,
        images=len(encoded) + near + copies,
        bad_files=len(bad),
        near_duplicates=near,
        byte_copies=copies,
        sources=len(used),
    )


def _source_of(path: str) -> str:
    return next(s.source for s in _SHOTS if s.path == path)


def _package_dir(package: str) -> Path | None:
    # find_spec on a top-level name locates the package without executing it, so neither
    # scikit-image's lazy loader nor scikit-learn's heavy __init__ runs.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _usable_sources() -> dict[str, tuple[_Source, Path]]:
    """Sources whose file exists and whose shipped licence statement matches ours."""
    statements: dict[str, str] = {}
    folders: dict[str, Path] = {}
    skimage = _package_dir("skimage")
    if skimage is not None:
        folders[_SKIMAGE] = skimage / "data"
        statements |= _skimage_statements(skimage / "data" / "_fetchers.py")
    sklearn = _package_dir("sklearn")
    if sklearn is not None:
        folders[_SKLEARN] = sklearn / "datasets" / "images"
        statements |= _sklearn_statements(folders[_SKLEARN] / "README.txt")

    usable: dict[str, tuple[_Source, Path]] = {}
    for name, source in _SOURCES.items():
        folder = folders.get(source.package)
        if folder is None:
            continue
        path = folder / source.file
        text = statements.get(name, "")
        if not path.is_file():
            continue
        if not all(sentence in text for sentence in source.statement):
            warnings.warn(
                f"skipping demo source {name}: its licence statement in the installed "
                f"{source.package} no longer matches the one this demo was written for",
                stacklevel=3,
            )
            continue
        usable[name] = (source, path)
    return usable


def _clean_rst(text: str) -> str:
    # Docstrings use reST links (`label <url>`__) and literals (``x``); keep the words and URLs.
    return " ".join(re.sub(r"`+_*", "", text).split())


def _skimage_statements(fetchers: Path) -> dict[str, str]:
    """Map each bundled image file name to the docstring of the function that loads it.

    scikit-image's data/README.txt carries no per-image licences; they are stated in the
    docstrings of skimage/data/_fetchers.py. Parsing (not importing) that file avoids any
    import-time side effects and any chance of triggering a download.
    """
    try:
        tree = ast.parse(fetchers.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        doc = ast.get_docstring(node)
        if not doc:
            continue
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Constant)
                and isinstance(inner.value, str)
                and inner.value.startswith("data/")
            ):
                found.setdefault(inner.value.removeprefix("data/"), _clean_rst(doc))
    return found


def _sklearn_statements(readme: Path) -> dict[str, str]:
    """Split scikit-learn's images README into one verbatim block per image."""
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return {}
    blocks: dict[str, str] = {}
    for block in re.split(r"(?m)^(?=Image: )", text):
        first, _, _ = block.partition("\n")
        if first.startswith("Image: "):
            blocks[first.removeprefix("Image: ").strip()] = block.strip()
    return blocks


def _open_source(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im if im.mode in ("RGB", "L") else im.convert("RGB")


def _fit(im: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    w, h = im.size
    if max(w, h) <= max_side:
        return im
    scale = max_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.Resampling.LANCZOS)


def _cut(photo: Image.Image, box: tuple[float, float, float, float] | None) -> Image.Image:
    if box is not None:
        w, h = photo.size
        left, top, right, bottom = box
        photo = photo.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    return _fit(photo)


def _exif(date: str | None, orientation: int | None) -> bytes:
    exif = Image.Exif()
    if date:
        exif[_TAG_DATETIME] = date
        exif.get_ifd(_IFD_EXIF)[_TAG_DATETIME_ORIGINAL] = date
    if orientation:
        exif[_TAG_ORIENTATION] = orientation
    return exif.tobytes()


def _jpeg(im: Image.Image, quality: int = JPEG_QUALITY, exif: bytes = b"") -> bytes:
    buf = io.BytesIO()
    # Every option pinned so the bytes depend only on the pixels and the libjpeg build.
    im.save(
        buf,
        "JPEG",
        quality=quality,
        subsampling="4:2:0",
        optimize=False,
        progressive=False,
        exif=exif,
    )
    return buf.getvalue()


def _encode(upright: Image.Image, shot: _Shot) -> bytes:
    if shot.fmt == "JPEG":
        if shot.rotated:
            # Like a phone held sideways: sensor pixels stay landscape, EXIF says "turn 90° CW".
            return _jpeg(upright.transpose(Image.Transpose.ROTATE_90), exif=_exif(shot.date, 6))
        return _jpeg(upright, exif=_exif(shot.date, None) if shot.date else b"")
    buf = io.BytesIO()
    match shot.fmt:
        case "PNG":
            upright.save(buf, "PNG", optimize=False, compress_level=9)
        case "WEBP":
            upright.save(buf, "WEBP", quality=85, method=4, lossless=False)
        case "GIF":
            im = upright
            if im.mode != "L":
                im = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
            im.save(buf, "GIF", optimize=False)
        case "BMP":
            upright.save(buf, "BMP")
        case "TIFF":
            upright.save(buf, "TIFF", compression="tiff_deflate")
        case _:
            raise ValueError(f"unsupported demo format {shot.fmt}")
    return buf.getvalue()


def _near_duplicate(upright: Image.Image, original: bytes, kind: str) -> bytes:
    match kind:
        case "downscale":
            w, h = upright.size
            return _jpeg(upright.resize((w // 2, h // 2), Image.Resampling.LANCZOS))
        case "jpeg35":
            # Re-encode the decoded file, as a messaging app would, rather than the clean pixels.
            with Image.open(io.BytesIO(original)) as im:
                return _jpeg(im.convert(upright.mode), quality=35)
        case "brighter":
            return _jpeg(ImageEnhance.Brightness(upright).enhance(1.2))
        case "centre_crop":
            w, h = upright.size
            cw, ch = round(w * 0.94), round(h * 0.94)
            left, top = (w - cw) // 2, (h - ch) // 2
            return _jpeg(upright.crop((left, top, left + cw, top + ch)))
    raise ValueError(f"unknown near-duplicate kind {kind}")


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def decompression_bomb_png(side: int = _BOMB_SIDE) -> bytes:
    """A well-formed PNG header claiming side x side pixels, with only one row of data.

    Decoders that trust IHDR would try to allocate gigabytes; the file itself stays tiny.
    """
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (side + 1), 9)  # filter byte + one black row
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _write_bad_files(dest: Path, encoded: Mapping[str, bytes]) -> list[str]:
    written = []
    if _TRUNCATED_FROM in encoded:
        data = encoded[_TRUNCATED_FROM]
        _write(dest, _TRUNCATED, data[: len(data) * 2 // 5])
        written.append(_TRUNCATED)
    _write(dest, _EMPTY, b"")
    _write(
        dest,
        _TEXT_AS_JPEG,
        b"Things to sort out:\n- rename the summer photos\n- delete the blurry clock\n",
    )
    _write(dest, _BOMB, decompression_bomb_png())
    written += [_EMPTY, _TEXT_AS_JPEG, _BOMB]
    return written


def _write(dest: Path, rel: str, data: bytes) -> None:
    path = dest / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def _sources_markdown(
    sources: Mapping[str, tuple[_Source, Path]], used: Mapping[str, list[str]], bad: list[str]
) -> str:
    skimage_version = _version("scikit-image")
    sklearn_version = _version("scikit-learn")
    lines = [
        "# Demo image sources",
        "",
        "Every image in this folder was generated by `planche.core.demo` from photographs that",
        "ship inside installed Python packages; nothing was downloaded. Images were resized",
        f"(longest side at most {MAX_SIDE} px), cropped, re-encoded and, for the near-duplicates,",
        "downscaled, brightened or recompressed. One JPEG has its pixels rotated and an EXIF",
        "orientation tag; the EXIF dates are invented.",
        "",
        "Licence statements are quoted as the packages ship them: for scikit-image from the",
        "docstrings in `skimage/data/_fetchers.py` (its `data/README.txt` states no licences),",
        "for scikit-learn from `sklearn/datasets/images/README.txt`. Photos whose licence is not",
        "stated there (for example moon.png, page.png and the Middlebury motorcycle pair) are",
        "not used.",
        "",
        "| Source file | Package | Licence | Files |",
        "| --- | --- | --- | --- |",
    ]
    for name in _SOURCES:
        if name not in used:
            continue
        source = sources[name][0]
        package = (
            f"scikit-image {skimage_version}"
            if source.package == _SKIMAGE
            else f"scikit-learn {sklearn_version}"
        )
        lines.append(f"| {name} | {package} | {source.licence} | {len(used[name])} |")
    for name in _SOURCES:
        if name not in used:
            continue
        source, path = sources[name]
        folder = "skimage/data" if source.package == _SKIMAGE else "sklearn/datasets/images"
        lines += ["", f"## {name}: {source.title}", "", f"Package file: `{folder}/{name}`", ""]
        if source.package == _SKIMAGE:
            lines.append("\n>\n".join(f"> {sentence}" for sentence in source.statement))
        else:
            # Verbatim, line breaks included: CC BY requires the attribution to travel along.
            block = _sklearn_statements(path.parent / "README.txt")[name]
            lines += ["```text", block, "```"]
        lines += ["", "Used for:", ""]
        lines += [f"- `{rel}`" for rel in used[name]]
    lines += [
        "",
        "## Deliberately broken files",
        "",
        "These are not images and must be rejected by any importer:",
        "",
    ]
    notes = {
        _TRUNCATED: f"the first 40% of the bytes of `{_TRUNCATED_FROM}`",
        _EMPTY: "an empty file",
        _TEXT_AS_JPEG: "a text file with a .jpg name",
        _BOMB: f"a {len(decompression_bomb_png())}-byte PNG whose header claims "
        f"{_BOMB_SIDE} x {_BOMB_SIDE} pixels (decompression bomb)",
    }
    lines += [f"- `{rel}`: {notes[rel]}" for rel in bad]
    return "\n".join(lines) + "\n"
