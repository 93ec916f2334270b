"""``python -m graphc ...``: the ``graphc`` command (graphc.cli), with the same arguments,
output and exit status."""

from __future__ import annotations

import sys

from graphc.cli import main

if __name__ == "__main__":
    sys.exit(main())
