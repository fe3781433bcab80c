"""`python -m planche.tui.cli`: the same as the `planche` command."""

import sys

from planche.tui.cli import main

sys.exit(main())
