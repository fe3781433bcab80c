"""core/ is a library: scripts and the headless CLI use it without the UI toolkit."""

from __future__ import annotations

import subprocess
import sys


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
        "heavy = ('textual', 'torch', 'open_clip')\n"
        "print(','.join(sorted(n for n in heavy if n in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
