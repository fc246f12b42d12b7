"""Read and clean a file's next chunk in a helper thread while the loader's connection loads
another (#23), so that the server never waits for the importer's Python between two chunks.

One ``ReadAhead`` per series of a loader, all sharing the loader's one reader thread; the loader
asks the series it will load next to read ahead (``prefetch``) before it loads the current one,
so at most one chunk per loader waits in memory. A series that is the loader's last reads its
own next chunk ahead (``eager``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_DONE = object()


class ReadAhead(Generic[T]):
    def __init__(self, reader: Executor) -> None:
        self.reader = reader
        self.eager = False
        self._it: Iterator[T] | None = None
        self._next: Future | None = None

    def wrap(self, chunks: Iterable[T]) -> ReadAhead[T]:
        """Read ``chunks`` (a file's, consumed by the caller's thread) through the reader thread."""
        self.release()
        self._it = iter(chunks)
        return self

    def prefetch(self) -> None:
        """Start reading the next chunk, unless it is under way or there is no file."""
        if self._it is not None and self._next is None:
            self._next = self.reader.submit(next, self._it, _DONE)

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._it is None:
            raise StopIteration
        self.prefetch()
        assert self._next is not None
        fut, self._next = self._next, None
        item = fut.result()  # (an error reading the file is raised here, in the loader's thread)
        if item is _DONE:
            self._it = None
            raise StopIteration
        if self.eager:
            self.prefetch()
        return item

    def release(self) -> None:
        """The file is done or abandoned (a cancel, a failed chunk): let a read under way finish,
        then close the file."""
        fut, it, self._next, self._it = self._next, self._it, None, None
        if fut is not None:
            try:
                fut.result()
            except (OSError, ValueError) as exc:  # the file is abandoned: its error no longer matters
                log.debug("read ahead of an abandoned file: %s", exc)
        close = getattr(it, "close", None)
        if close is not None:
            close()
