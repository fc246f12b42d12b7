"""Start Perocube Desktop (same as the ``perocube-desktop`` command)."""

import sys

from perocube_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
