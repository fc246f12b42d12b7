"""The importer's read-ahead (importer.ahead): the next chunk is read in the reader thread while
the caller loads another, in order, errors reach the caller, and an abandoned file is closed
only after the read under way has finished."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from perocube_desktop.importer.ahead import ReadAhead


def _chunks(n: int, log: list, fail_at: int | None = None, delay: float = 0.0):
    try:
        for i in range(n):
            time.sleep(delay)
            if i == fail_at:
                raise OSError(f"chunk {i} unreadable")
            log.append((i, threading.current_thread().name))
            yield i
    finally:
        log.append(("closed", threading.current_thread().name))


def test_chunks_come_in_order_read_in_the_reader_thread():
    log: list = []
    with ThreadPoolExecutor(1, thread_name_prefix="reader") as pool:
        ahead: ReadAhead[int] = ReadAhead(pool)
        assert list(ahead.wrap(_chunks(5, log))) == [0, 1, 2, 3, 4]
    assert [x for x, _ in log] == [0, 1, 2, 3, 4, "closed"]
    assert all(name.startswith("reader") for _, name in log)


def test_prefetch_reads_while_the_caller_works_and_eager_reads_the_next():
    log: list = []
    with ThreadPoolExecutor(1, thread_name_prefix="reader") as pool:
        ahead: ReadAhead[int] = ReadAhead(pool).wrap(_chunks(3, log, delay=0.05))
        ahead.prefetch()
        time.sleep(0.2)  # the caller loads another series' chunk meanwhile
        assert [x for x, _ in log] == [0]  # read ahead, and no further
        ahead.eager = True
        assert next(ahead) == 0
        time.sleep(0.2)
        assert [x for x, _ in log] == [0, 1]  # eager: the following chunk is read at once
        assert list(ahead) == [1, 2]


def test_an_error_reading_the_file_reaches_the_caller():
    log: list = []
    with ThreadPoolExecutor(1) as pool:
        ahead: ReadAhead[int] = ReadAhead(pool).wrap(_chunks(5, log, fail_at=2))
        assert next(ahead) == 0 and next(ahead) == 1
        with pytest.raises(OSError, match="chunk 2 unreadable"):
            next(ahead)


def test_an_abandoned_file_is_closed_after_the_read_under_way():
    log: list = []
    with ThreadPoolExecutor(1) as pool:
        ahead: ReadAhead[int] = ReadAhead(pool).wrap(_chunks(5, log, delay=0.1))
        assert next(ahead) == 0
        ahead.prefetch()  # chunk 1 is being read when the loader gives up (a cancel)
        ahead.release()
        assert [x for x, _ in log] == [0, 1, "closed"]
        assert list(ahead) == []  # nothing left to read
