"""Group commit: one thread commits everything queued since its last commit in one SQLite transaction.

The receiver's connections hand their parsed requests over with a callback; after the commit the
callbacks of one event loop are run there by *one* ``call_soon_threadsafe`` (one wake-up of the
loop per commit, not one per connection, and no future pair per request). Nothing here touches
sockets, Qt or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from ..protocol import Request
from .buffer import DiskBuffer

log = logging.getLogger(__name__)

# called with None once the group is durable, or with the exception of a failed commit
Done = Callable[[BaseException | None], None]
Quarantined = list[tuple[int, str, str, str]]


@dataclass(slots=True)
class _Group:
    requests: list[Request]
    quarantined: Quarantined
    done: Done
    loop: asyncio.AbstractEventLoop | None  # where ``done`` runs; None: in the committer thread


def _run_all(callbacks: list[Done], exc: BaseException | None) -> None:
    for done in callbacks:
        try:
            done(exc)
        except Exception:  # one connection's failure must not cost the others their replies
            log.exception("reply after the group commit failed")


class GroupCommitter:
    """One thread that commits everything queued since its last commit in one transaction."""

    def __init__(self, buffer: DiskBuffer, on_committed: Callable[[list[Request]], None]) -> None:
        self.buffer = buffer
        self.on_committed = on_committed
        self.last_error: str | None = None  # the last failed commit, for the status bar (read by other threads)
        self.last_error_at: float | None = None  # its unix time
        self._queue: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="buffer-commit", daemon=True)
        self._thread.start()

    def submit_to(self, loop: asyncio.AbstractEventLoop, requests: list[Request], quarantined: Quarantined,
                  done: Done) -> None:
        """Commit durably, then call ``done(None)`` (or ``done(exc)``) in ``loop``'s thread."""
        self._queue.put(_Group(requests, quarantined, done, loop))

    def submit(self, requests: list[Request], quarantined: Quarantined) -> Future:
        """The same for a caller without an event loop: a future done after the commit."""
        fut: Future = Future()

        def done(exc: BaseException | None) -> None:
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

        self._queue.put(_Group(requests, quarantined, done, None))
        return fut

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            groups = [first]
            stop = False
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                groups.append(nxt)
            self._commit(groups)
            if stop:
                return

    def _commit(self, groups: list[_Group]) -> None:
        if len(groups) == 1:
            requests, quarantined = groups[0].requests, groups[0].quarantined
        else:
            requests = [r for group in groups for r in group.requests]
            quarantined = [q for group in groups for q in group.quarantined]
        exc: BaseException | None = None
        try:
            self.buffer.append_requests(requests, quarantined)
        except Exception as e:  # the clients get no ACK and will re-send
            log.exception("local buffer commit failed")
            exc = e
            self.last_error, self.last_error_at = f"{type(e).__name__}: {e}", time.time()
        by_loop: dict[asyncio.AbstractEventLoop, list[Done]] = {}
        for group in groups:
            if group.loop is None:
                _run_all([group.done], exc)
            else:
                by_loop.setdefault(group.loop, []).append(group.done)
        for loop, callbacks in by_loop.items():
            try:
                loop.call_soon_threadsafe(_run_all, callbacks, exc)
            except RuntimeError:  # the loop is closed: the receiver stopped, nobody waits for the reply
                pass
        if exc is None:
            self.on_committed(requests)
