"""Ctrl-C and SIGTERM for the commands (not the GUI, which has ``shutdown``): one line saying what was
done and how to resume, exit code 128 + the signal (130 for SIGINT, 143 for SIGTERM), no traceback.

``install`` makes SIGINT, SIGTERM (and SIGBREAK on Windows) raise ``Interrupted`` in the main thread:
a ``KeyboardInterrupt``, so psycopg cancels a running query and ``except Exception`` never swallows
it; transactions roll back, and each command writes its output under a temporary name, so nothing
half-written is left. A command that can stop at a safe point (import between chunks, receive,
serve, simulate) takes the first signal itself with ``cooperative``; a second signal raises.
``describe`` tells what to say if a signal ends the work inside it. No Qt; cross-platform (Windows
has no SIGTERM from a console, but Ctrl-C and Ctrl-Break arrive as SIGINT and SIGBREAK).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name))


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(KeyboardInterrupt):
    """A signal ended the command; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = int(signum)
        self.said: str | None = None  # what was done and how to resume (``describe``)

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


def _raise(signum: int, _frame) -> None:
    raise Interrupted(signum)


def install() -> None:
    """Every command signal raises ``Interrupted`` (main thread only, like every Python signal handler)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        signal.signal(sig, _raise)


@contextlib.contextmanager
def describe(text: str | Callable[[], str]) -> Iterator[None]:
    """A signal that ends the work inside this block is reported with ``text`` (what was done, what to
    run to resume); the innermost block's text wins."""
    try:
        yield
    except Interrupted as exc:
        if exc.said is None:
            exc.said = text() if callable(text) else text
        raise


GENERIC = "stopped before anything was written; run the same command again"


def message(signum: int, what: str | None = None) -> str:
    """The one line: the signal, then what was done and what to run to resume."""
    return f"interrupted by {signal_name(signum)}: {what or GENERIC}"


@dataclass
class Stop:
    """What ``cooperative`` saw: the signal that asked the command to stop (None: none came)."""

    signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None


@contextlib.contextmanager
def cooperative(request_stop: Callable[[int], None], note: str = "") -> Iterator[Stop]:
    """The first signal inside calls ``request_stop(signum)`` (set a flag: the command stops at its next
    safe point and reports itself); a second one raises ``Interrupted`` at once. Handlers are restored
    on leaving. Outside the main thread (tests) it only yields."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def first(signum: int, _frame) -> None:
        if stop.signum is not None:
            raise Interrupted(signum)
        stop.signum = signum
        log.info("%s: stopping%s (again to stop at once)", signal_name(signum), f" {note}" if note else "")
        request_stop(signum)

    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, first)
    try:
        yield stop
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
