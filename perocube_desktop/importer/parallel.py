"""Several loaders side by side (#23): each on its own connection, each with its share of the
series (all files of one MPP channel or sensor), taking one chunk of each of its series in turn so
that the import advances through time on all series together. Meanwhile, on TimescaleDB, a
follower session refreshes the continuous aggregates below the time every series has reached
(``Horizon``), so most of the refresh runs while the next chunks load instead of after them.

Exactly once as with one connection: a series is loaded by one connection only, file after file, so
the overlap test that chooses COPY or de-duplication sees everything loaded before; each chunk is
one transaction with its file's progress. The follower forgets only the marks it refreshed; the
final refresh (``db.rollups.refresh``) does whatever is left.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import datetime, timezone

import psycopg

from ..db import catalog, rollups
from ..db import session as db_session
from ..errors import first_line
from .ahead import ReadAhead
from .files import count_outcome, file_steps
from .loader import Loader
from .results import Cancel, FileOutcome, ImportRun, Problem
from .scan import LabFile

log = logging.getLogger(__name__)

_END = datetime.max.replace(tzinfo=timezone.utc)


def series_groups(data_files: list[LabFile]) -> list[list[LabFile]]:
    """The files of each series together, in scan order; largest series first."""
    groups: dict[tuple[str, str], list[LabFile]] = {}
    for f in data_files:
        groups.setdefault((f.kind, f.target), []).append(f)
    return sorted(groups.values(), key=lambda g: -sum(f.size for f in g))


class Horizon:
    """The time below which every series of the import is loaded (as far as the chunks' first and
    last lines tell; a row that arrives below it later has its own mark and is refreshed later)."""

    def __init__(self, n_series: int) -> None:
        self.lock = threading.Lock()
        self.reached: dict[int, datetime] = {}
        self.n = n_series

    def advance(self, series: int, t: datetime | None) -> None:
        if t is not None:
            with self.lock:
                self.reached[series] = max(t, self.reached.get(series, t))

    def finish(self, series: int) -> None:
        with self.lock:
            self.reached[series] = _END

    def value(self) -> datetime | None:
        with self.lock:
            return min(self.reached.values()) if len(self.reached) == self.n else None


class RollupFollower:
    """TimescaleDB: a session that refreshes the continuous aggregates over the marks below the
    horizon whenever it moved, while the loaders go on (``db.rollups.refresh_below``)."""

    def __init__(self, conninfo: str, horizon: Horizon) -> None:
        self.conninfo, self.horizon = conninfo, horizon
        self.queue: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="rollup-follow", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        self.queue.put(True)

    def finish(self) -> None:
        self.queue.put(False)
        self.thread.join()

    def _run(self) -> None:
        done: datetime | None = None
        running = True
        try:
            with db_session.connect(self.conninfo, autocommit=True, application_name="perocube-rollups") as conn:
                conn.execute(catalog.q("session_rollup_follower"))
                while running:
                    running = self.queue.get()
                    while not self.queue.empty():  # pokes that came during the last refresh
                        running = self.queue.get() and running
                    h = self.horizon.value()
                    if running and h is not None and h != _END and (done is None or h > done):
                        n = rollups.refresh_below(conn, h)
                        log.info("rollups refreshed below %s beside the import (%d marks)", h, n)
                        done = h
        except psycopg.Error as exc:  # the final refresh covers what is left
            log.warning("rollup refresh beside the import stopped: %s", first_line(exc))
            while running:
                running = self.queue.get()


def _series_steps(ld: Loader, k: int, group: list[LabFile], run: ImportRun,
                  record: Callable[[LabFile, FileOutcome, int], None], horizon: Horizon,
                  after_chunk: Callable[[], None], ahead: ReadAhead) -> Generator[None, None, None]:
    """One series' files, one committed chunk per step (``run``: this loader's, see ``import_parallel``)."""
    for f in group:
        out = FileOutcome(f.rel, f.kind, f.target, "imported")
        done = [0]

        def counted(nbytes: int, rows: int, done=done) -> None:
            done[0] += nbytes
            run.on_chunk(nbytes, rows)

        try:
            for _ in file_steps(ld, f, replace(run, on_chunk=counted), out, ahead=ahead):
                horizon.advance(k, ld.last_hi)
                after_chunk()
                yield
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError, OSError) as exc:
            out = FileOutcome(f.rel, f.kind, f.target, "failed", message=first_line(exc))
            run.summary.problems.append(Problem(f.rel, None, f"file not imported: {out.message}"))
            log.error("%s not imported: %s", f.rel, out.message)
        record(f, out, done[0])
        if out.status == "cancelled":
            return
    horizon.finish(k)
    after_chunk()


def _in_turn(active: list[tuple[ReadAhead, Generator[None, None, None]]]) -> None:
    """One chunk of each series in turn (through time together), the following series reading
    its next chunk meanwhile. A cancel ends each series at its next chunk, counted as cancelled;
    after a failed chunk the other series' files are closed here, their reads finished."""
    i = 0
    try:
        while active:
            i %= len(active)
            following = active[(i + 1) % len(active)][0]
            following.eager = len(active) == 1  # the last series reads its own next chunk ahead
            following.prefetch()  # read while this chunk loads
            if next(active[i][1], StopIteration) is StopIteration:
                active.pop(i)
            else:
                i += 1
    finally:
        for _ahead, steps in active:
            steps.close()


def import_parallel(run: ImportRun, on_committed, timescaledb: bool, data_files: list[LabFile]) -> None:
    conninfo, opts, summary, state, cancel = run.conninfo, run.opts, run.summary, run.state, run.cancel
    groups = series_groups(data_files)
    n = max(1, min(opts.loaders, len(groups)))
    lock = threading.Lock()
    stop = threading.Event()  # a loader failed: the others stop after their current chunk
    horizon = Horizon(len(groups))
    follower = RollupFollower(conninfo, horizon) if timescaledb else None

    def locked_chunk(nbytes: int, rows: int) -> None:
        with lock:
            run.on_chunk(nbytes, rows)

    def record(f: LabFile, out: FileOutcome, counted: int) -> None:
        with lock:
            count_outcome(summary, f, out)
            state.files_done += 1
            state.current = f.rel
            if out.status != "failed":  # an unchanged file, an incomplete last line
                state.bytes_done += f.size - counted
            run.report()

    conns: list[psycopg.Connection] = []

    def work(w: int) -> None:
        with db_session.connect(conninfo, connect_timeout=10, application_name=f"perocube-import-{w}",
                             autocommit=True) as c:
            with lock:
                conns.append(c)
            ld = Loader(c, opts.timezone)
            ld.on_committed = on_committed
            # this loader's run: its chunks counted under the lock; it stops on a cancel or another's failure
            own = replace(run, on_chunk=locked_chunk, cancel=_Either(cancel, stop))
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"import-read-{w}") as reader:
                active = []
                for k in range(w, len(groups), n):
                    ahead: ReadAhead = ReadAhead(reader)
                    active.append((ahead, _series_steps(ld, k, groups[k], own, record, horizon,
                                                        follower.poke if follower else lambda: None, ahead)))
                _in_turn(active)

    try:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="import-load") as pool:
            futures = [pool.submit(work, w) for w in range(n)]
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:  # a second Ctrl-C (interrupt.Interrupted): the loaders' statements end now
                _cancel_statements(stop, conns, lock)
                raise
            stop.set()  # (the others have finished, or one failed: the rest stop after their chunk)
            for fut in futures:
                fut.result()  # the first failure (a lost connection) is the caller's
    finally:
        if follower is not None:
            follower.finish()
    attempted = {o.file for o in summary.outcomes}
    if cancel.is_set() and any(f.rel not in attempted for f in data_files):
        summary.cancelled = True  # (files no loader reached: the next import does them)
    order = {f.rel: i for i, f in enumerate(data_files)}
    summary.outcomes.sort(key=lambda o: order.get(o.file, len(order)))  # in scan order, as with one loader


def _cancel_statements(stop: threading.Event, conns: list[psycopg.Connection], lock: threading.Lock) -> None:
    """Stop the loaders and cancel what their connections are running (their chunk transactions roll
    back: the next import resumes there), so that the pool's shutdown does not wait for a held lock."""
    stop.set()
    with lock:
        for c in conns:
            try:
                getattr(c, "cancel_safe", c.cancel)()
            except psycopg.Error as exc:  # a connection already closed: nothing of it runs
                log.debug("cancel: %s", exc)


class _Either(Cancel):
    """``is_set`` of either event (the user's cancel, or another loader's failure)."""

    def __init__(self, a: Cancel, b: Cancel) -> None:
        self.a, self.b = a, b

    def is_set(self) -> bool:
        return self.a.is_set() or self.b.is_set()
