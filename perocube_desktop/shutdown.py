"""Orderly shutdown on SIGINT/SIGTERM and, on Windows, on console close, logoff and shutdown.

No Qt here: ``install`` calls ``request_stop(reason)`` from whatever context the signal
arrives in (the main thread for POSIX signals, a system thread for the Windows console
handler), so ``request_stop`` must only set a flag or post an event. On Windows the console
handler then waits (up to ``wait_s``) for ``done`` to be set, because Windows ends the
process as soon as the handler returns from a close, logoff or shutdown event.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_CTRL_EVENTS = {0: "Ctrl-C", 1: "Ctrl-Break", 2: "console closed", 5: "user logoff", 6: "system shutdown"}
_keep_alive: list[object] = []  # the ctypes callback must outlive install()


def install(request_stop: Callable[[str], None], done: threading.Event | None = None, wait_s: float = 4.5) -> None:
    """Route SIGINT, SIGTERM (and SIGBREAK) and the Windows console events to ``request_stop``."""

    def on_signal(signum, _frame) -> None:
        name = signal.Signals(signum).name
        log.info("%s received: shutting down", name)
        request_stop(name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if hasattr(signal, "SIGBREAK"):  # Windows: Ctrl-Break
        signal.signal(signal.SIGBREAK, on_signal)
    if sys.platform == "win32":
        _install_console_handler(request_stop, done, wait_s)


def _install_console_handler(request_stop: Callable[[str], None], done: threading.Event | None,
                             wait_s: float) -> None:
    if sys.platform != "win32":  # also tells mypy that what follows is Windows-only
        return
    import ctypes
    from ctypes import wintypes

    handler_type = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)

    def handler(event: int) -> bool:
        if event in (0, 1):
            return False  # Ctrl-C/Ctrl-Break: Python's own SIGINT/SIGBREAK handling (above) takes them
        reason = _CTRL_EVENTS.get(event, f"console event {event}")
        log.info("%s: shutting down", reason)
        request_stop(reason)
        if done is not None:
            done.wait(wait_s)  # the process ends when this returns
        return True

    callback = handler_type(handler)
    if not ctypes.windll.kernel32.SetConsoleCtrlHandler(callback, True):
        log.warning("SetConsoleCtrlHandler failed: console close and logoff will not shut down cleanly")
        return
    _keep_alive.append(callback)
