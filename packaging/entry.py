"""Entry point of the frozen app (PyInstaller): the same as the ``perocube-desktop`` command."""

import sys

from perocube_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
