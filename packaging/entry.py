"""Entry point of the frozen app (PyInstaller): the same as the ``perocube-desktop`` command.

The Windows Start-menu executable (perocube-desktop-gui.exe) has no console, so stdout/stderr are
None there: a start-up error that the CLI prints would be invisible. For that executable a
damaged app folder is reported in a message box instead.
"""

import sys

from perocube_desktop.cli import main


def _report_without_console() -> None:
    from perocube_desktop import paths

    try:
        paths.check_installation()
    except paths.InstallationError as exc:
        import ctypes

        ctypes.windll.user32.MessageBoxW(None, f"Perocube Desktop cannot start:\n\n{exc}", "Perocube Desktop", 0x10)
        sys.exit(2)


if __name__ == "__main__":
    if sys.platform == "win32" and sys.stderr is None:
        _report_without_console()
    sys.exit(main())
