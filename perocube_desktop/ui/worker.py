"""One generic background worker: runs any plain function off the GUI thread.

This is the GUI's only path to the database (and to anything else that may wait): the
GUI thread never runs a query itself. The function may accept ``progress`` (a callable)
and ``cancel`` (a threading.Event) keyword arguments; results and errors come back as
signals on the GUI thread.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..errors import first_line

log = logging.getLogger(__name__)

# Database trouble (server down, unreachable, a pool that cannot connect, a cancelled statement)
# is the environment, not a bug: one log line per outage and no traceback; the caller's error
# callback puts it in the status bar. The next task that succeeds ends the outage.
_database_down: list[str] = []


def database_trouble(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot be used now" (psycopg_pool's PoolTimeout and
    PoolClosed are OperationalErrors too)."""
    import psycopg

    return isinstance(exc, psycopg.OperationalError)


def describe(exc: BaseException) -> str:
    """The text the status bar shows: database trouble said in words, anything else as it is."""
    return f"database not reachable ({first_line(exc)})" if database_trouble(exc) else f"{type(exc).__name__}: {exc}"


class WorkerSignals(QObject):
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    raised = Signal(object)  # the exception itself, for callers that handle known kinds


class Worker(QRunnable):
    def __init__(self, fn: Callable, *args, expected: tuple[type[BaseException], ...] = (), **kwargs) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.expected = expected
        self.signals = WorkerSignals()
        self.cancel = threading.Event()
        params = inspect.signature(fn).parameters
        if "progress" in params:
            # one argument is passed through as it is; several arrive as a tuple
            self.kwargs["progress"] = lambda *a: self.signals.progress.emit(a[0] if len(a) == 1 else a)
        if "cancel" in params:
            self.kwargs["cancel"] = self.cancel

    def run(self) -> None:
        try:
            result = self.fn(*self.args, **self.kwargs)
        except Exception as exc:  # reported to the UI and the log, never swallowed
            name = getattr(self.fn, "__name__", self.fn)
            if isinstance(exc, self.expected):  # a user's mistake the caller explains (validation, conflict)
                log.info("background task %s refused: %s", name, exc)
            elif type(exc).__name__ == "PoolClosed":  # the window is closing: nothing is waiting for the result
                log.info("background task %s not run: the application is shutting down", name)
            elif database_trouble(exc):
                first = not _database_down
                _database_down.append(str(exc))
                (log.warning if first else log.debug)("%s; background tasks wait for it (%s)", describe(exc), name)
            else:
                log.error("background task %s failed: %s\n%s", name, exc, traceback.format_exc())
            self.signals.raised.emit(exc)
            self.signals.failed.emit(describe(exc) if database_trouble(exc) else f"{type(exc).__name__}: {exc}")
        else:
            _database_down.clear()
            self.signals.finished.emit(result)


def _guarded(fn: Callable) -> Callable:
    """A result may arrive after its window was closed (the app shutting down, a test ending):
    nothing is left to show it, so that one case is logged and dropped; any other error raises."""
    def call(*args):
        try:
            fn(*args)
        except RuntimeError as exc:
            if "already deleted" not in str(exc):
                raise
            log.debug("result of a background task dropped, its window is gone: %s", exc)
    return call


# Workers stay referenced until their result has been delivered on the GUI thread: if
# Python dropped the last reference in the pool thread, the signals QObject would be
# destroyed there with queued signals pending (a crash).
_active: set[Worker] = set()


def start(fn: Callable, *args, on_done: Callable | None = None, on_error: Callable | None = None,
          on_progress: Callable | None = None, on_exception: Callable | None = None,
          expected: tuple[type[BaseException], ...] = (), **kwargs) -> Worker:
    """Run ``fn(*args, **kwargs)`` on the thread pool. ``on_done(result)``, ``on_error(text)``,
    ``on_exception(exc)`` and ``on_progress(value)`` run on the GUI thread. Exceptions of the
    ``expected`` kinds are logged at INFO (the caller shows them), others at ERROR."""
    worker = Worker(fn, *args, expected=expected, **kwargs)
    if on_done:
        worker.signals.finished.connect(_guarded(on_done))
    if on_error:
        worker.signals.failed.connect(_guarded(on_error))
    if on_exception:
        worker.signals.raised.connect(_guarded(on_exception))
    if on_progress:
        worker.signals.progress.connect(_guarded(on_progress))
    worker.setAutoDelete(False)
    _active.add(worker)
    worker.signals.finished.connect(lambda _r: _active.discard(worker))
    worker.signals.failed.connect(lambda _e: _active.discard(worker))
    QThreadPool.globalInstance().start(worker)
    return worker
