"""core/ is a library: scripts and the headless CLI use it without the UI toolkit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_importing_every_core_module_never_imports_textual():
    code = (
        "import importlib, pkgutil, sys\n"
        "import planche.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('planche.core.' + m.name)\n"
        "ui = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'textual_image'))\n"
        "print(','.join(ui))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_cli_starts_without_textual_or_torch():
    code = (
        "import sys\n"
        "import planche.tui.cli\n"
        "heavy = ('textual', 'torch', 'open_clip', 'ray')\n"
        "print(','.join(sorted(n for n in heavy if n in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_every_package_is_listed_for_the_wheel():
    # The package-dir mapping needs each package named in pyproject; one left
    # out works in an editable install and is missing from a built wheel.
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])  # fmt: skip
    found = {
        "planche." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("core", "tui")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set()


def _lint_imports() -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)


def test_the_layers_hold_and_a_widget_that_opens_the_store_would_break_them():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
    # One test, not two: the probe must never be seen by a check running beside it.
    probe = ROOT / "tui" / "_probe_widget_opening_the_store.py"
    probe.write_text("from planche.core.store import open_store  # noqa: F401\n")
    try:
        broken = _lint_imports()
    finally:
        probe.unlink()
    assert broken.returncode != 0
    assert "reach core only through commands" in broken.stdout and "BROKEN" in broken.stdout
