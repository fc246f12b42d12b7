"""The file side of importing one file: what was imported before, verify that prefix, read and
clean the rest chunk by chunk. No database work except looking up the file's record."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import psycopg

from ..db import queries
from . import lines as lines_mod
from .results import ImportOptions
from .scan import LabFile

log = logging.getLogger(__name__)


def _file_hash_prefix(fh, length: int) -> hashlib._Hash:
    h = hashlib.sha256()
    remaining = length
    fh.seek(0)
    while remaining > 0:
        block = fh.read(min(8 << 20, remaining))
        if not block:
            break
        h.update(block)
        remaining -= len(block)
    return h


@dataclass
class Chunk:
    size: int  # bytes of the file this chunk consumed
    cleaned: lines_mod.CleanChunk
    digest: str  # SHA-256 of the file prefix up to the end of this chunk
    lines_after: int  # file lines up to the end of this chunk
    offset_after: int


class FilePlan:
    """The file side of importing one file: verify the imported prefix, read from where the last
    import stopped, clean chunk by chunk. No database: it can run in a helper thread while the
    previous file is being loaded (``prefetch``)."""

    def __init__(self, f: LabFile, rec, opts: ImportOptions) -> None:
        self.f, self.rec, self.opts = f, rec, opts  # rec: the file's imported_file row (named), None if new
        self.mode = "new"
        self.tail = 0  # bytes of an incomplete last line, known once all chunks were read
        self.end = 0
        self.line_end = 0  # complete lines of the file (known once all chunks were read)
        self.chunks: list[Chunk] | None = None

    @property
    def unchanged(self) -> bool:
        return self.rec is not None and self.rec.size_bytes == self.f.size and self.rec.mtime_ns == self.f.mtime_ns

    def prefetch(self) -> FilePlan:
        self.chunks = list(self._read())
        return self

    def __iter__(self):
        return iter(self.chunks) if self.chunks is not None else self._read()

    def _read(self):
        f, opts = self.f, self.opts
        start, line_base, hasher = 0, 0, hashlib.sha256()
        with open(f.path, "rb") as fh:
            if self.rec:
                done_bytes = self.rec.imported_bytes
                h = _file_hash_prefix(fh, done_bytes)
                if f.size >= done_bytes and h.hexdigest() == self.rec.prefix_sha256:
                    start, line_base, hasher, self.mode = done_bytes, self.rec.lines, h, "tail"
                else:
                    self.mode = "rewritten"
                    log.info("%s was rewritten since the last import: reading it again", f.rel)
            fh.seek(start)
            pending = b""
            while data := fh.read(opts.read_size):
                data = pending + data
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pending = data
                    continue
                chunk, pending = data[:cut], data[cut:]
                cleaned = lines_mod.clean(f.kind, chunk, line_base + 1, opts.keep_problems)
                hasher.update(chunk)
                start += len(chunk)
                line_base += cleaned.lines
                yield Chunk(len(chunk), cleaned, hasher.hexdigest(), line_base, start)
        self.tail, self.end, self.line_end = len(pending), start, line_base


def plan_file(conn: psycopg.Connection, f: LabFile, opts: ImportOptions) -> FilePlan:
    return FilePlan(f, queries.named_row(conn, queries.get("import", "get_imported_file"), (str(f.path),)), opts)


def locate_lines(f: LabFile, chunk: Chunk, cleaned: lines_mod.CleanChunk) -> None:
    """Line numbers for the lines refused after cleaning (rare): the first line of the chunk, read
    again from the file, that starts with the refused row's timestamp."""
    first_line = chunk.lines_after - cleaned.lines + 1
    with open(f.path, "rb") as fh:
        fh.seek(chunk.offset_after - chunk.size)
        raw_lines = fh.read(chunk.size).split(b"\n")
    used: set[int] = set()
    for bad in cleaned.bad:
        if bad.line != 0:
            continue
        stamp = bad.raw.split("\t", 1)[0].encode()
        for i, line in enumerate(raw_lines):
            if i not in used and line.startswith(stamp + b"\t"):
                bad.line = first_line + i
                used.add(i)
                break
