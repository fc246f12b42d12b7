"""Framing of the LabVIEW wire protocol: where one request ends in a TCP byte stream.

The lab's VIs write bare JSON objects without line endings and read a 3-byte ``ACK``/``ERR``;
newer clients use the line protocol (one object per line). ``RequestFramer`` splits a stream at
JSON value boundaries and decides a connection's framing from its first request; ``LineFramer``
is the plain line splitter. Pure code, no sockets; parsing of a frame is ``protocol.parse_frame``.
"""

from __future__ import annotations

import re
from typing import Any

from .protocol import NOT_PARSED, loads_json
from .values import too_deep


class LineFramer:
    """Splits a byte stream into lines, whatever the TCP segmentation.

    Lines over ``max_bytes`` are reported once (``None`` in the output) and skipped up
    to their end without being kept in memory.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            piece = data[start:nl]
            if self._discarding:
                self._discarding = False
                self._buf.clear()
            elif len(self._buf) + len(piece) > self.max_bytes:
                self._buf.clear()
                out.append(None)
            else:
                self._buf += piece
                out.append(bytes(self._buf).rstrip(b"\r"))
                self._buf.clear()
            start = nl + 1
        rest = data[start:]
        if not self._discarding:
            if len(self._buf) + len(rest) > self.max_bytes:
                self._buf.clear()
                self._discarding = True
                out.append(None)
            else:
                self._buf += rest
        return out

    def take_rest(self) -> bytes:
        """The unfinished last line (at the end of the connection)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest


# A frame: (raw bytes, or None for a request over the size limit; its JSON value if already parsed)
Frame = tuple[bytes | None, Any]

_WS = b" \t\r\n"
# JSON structure: brackets, complete strings, or a lone quote (a string not finished yet)
_TOKEN = re.compile(rb'[{}\[\]]|"[^"\\]*(?:\\.[^"\\]*)*"|"', re.DOTALL)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # the rest of a string, with its quote
_STRING_PART = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # as far as a string goes for sure
_GARBAGE_END = re.compile(rb"[\n{]")

LINE, RAW = "line", "raw"


class RequestFramer:
    """Frames requests by JSON value boundaries and tells the connection's framing.

    Whitespace and line endings between values are separators. ``mode`` is ``None`` until
    the first request is complete: a line ending right after it (spaces allowed) means the
    line protocol (``LINE``), anything else ``RAW`` (the VIs: 3-byte replies). When the
    first request ends exactly at the end of the data so far, the caller waits a moment
    for more and calls ``decide(RAW)`` if nothing came. In line mode, lines are requests
    (several objects on one line are split by the parser).

    Bytes that cannot start a JSON value ("garbage") form a request up to the next line
    ending, the next ``{`` or the end of the data received so far.
    """

    def __init__(self, max_bytes: int = 1 << 20) -> None:
        self.max_bytes = max_bytes
        self.mode: str | None = None
        self._buf = bytearray()
        self._lines: LineFramer | None = None
        self._scanning = False  # inside a JSON value that started at _buf[0]
        self._scan_pos = 0
        self._depth = 0
        self._in_string = False
        self._discard = False  # skipping the rest of a value over the limit
        self._first_done = False

    # -- public ---------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Frame]:
        lines = self._lines
        if lines is not None:
            # fast path: exactly one whole line (a line client waiting for each reply); the same
            # result as LineFramer: one line ending, at the end, nothing held from before
            n = len(data)
            if (n and data[-1] == 0x0A and not lines._buf and not lines._discarding and n <= self.max_bytes + 1
                    and data.find(b"\n", 0, n - 1) < 0):
                line = data.rstrip(b"\r\n")
                return [(line, NOT_PARSED)] if line and not line.isspace() else []
            return [(line, NOT_PARSED) for line in lines.feed(data) if line is None or (line and not line.isspace())]
        self._buf += data
        return self._frames(eof=False)

    def decide(self, mode: str) -> list[Frame]:
        """Fix the framing (no line ending came after the first request); returns frames now complete."""
        if self.mode is None:
            self._set_mode(mode)
        if self._lines is not None:
            rest = bytes(self._buf)
            self._buf.clear()
            return self.feed(rest)
        return self._frames(eof=False)

    def close(self) -> tuple[list[Frame], bytes]:
        """At the end of the connection: the frames still complete, and the bytes of an unfinished request."""
        if self._lines is not None:
            rest = self._lines.take_rest().strip()
            if not rest:
                return [], b""
            obj = loads_json(rest)  # a value nested too deep is complete too: parse_frame refuses it
            return ([(rest, obj)], b"") if obj is not NOT_PARSED or too_deep(rest) else ([], rest)
        frames = self._frames(eof=True)
        rest = bytes(self._buf).strip()
        self._buf.clear()
        if self._discard:
            return frames, b""
        return frames, rest

    @property
    def awaiting_decision(self) -> bool:
        """The first request is complete but nothing followed it yet."""
        return self.mode is None and self._first_done

    # -- internals ----------------------------------------------------------------------------------
    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == LINE:
            self._lines = LineFramer(self.max_bytes)

    def _frames(self, eof: bool) -> list[Frame]:
        out: list[Frame] = []
        buf = self._buf
        fast = True  # after one miss (several objects in the data), scan: each try would copy the rest
        while True:
            if not self._scanning and not self._discard:
                # skip separators; the first request's follower decides the framing
                n = len(buf)
                k = 0
                while k < n and buf[k] in _WS:
                    if self.mode is None and self._first_done and buf[k] in b"\r\n":
                        del buf[:k]
                        self._set_mode(LINE)
                        rest = bytes(buf)
                        buf.clear()
                        return out + self.feed(rest)
                    k += 1
                del buf[:k]
                if not buf:
                    return out
                if self.mode is None and self._first_done:
                    self._set_mode(RAW)
                if buf[0] not in b"{[":
                    m = _GARBAGE_END.search(buf, 1)
                    end = m.start() if m is not None else len(buf)
                    if end > self.max_bytes:
                        out.append((None, NOT_PARSED))
                    else:
                        out.append((bytes(buf[:end]), NOT_PARSED))
                    del buf[:end]
                    self._first_done = True
                    continue
                # fast path: the rest of the data is exactly one value (the VIs: one object per write)
                end = len(buf)
                while end > 0 and buf[end - 1] in _WS:
                    end -= 1
                if fast and buf[end - 1] in b"}]" and end <= self.max_bytes:
                    obj = loads_json(buf[:end])
                    if obj is not NOT_PARSED:
                        out.append((bytes(buf[:end]), obj))
                        del buf[:end]
                        self._first_done = True
                        continue
                    fast = False
                self._scanning, self._scan_pos, self._depth, self._in_string = True, 0, 0, False
            found = self._scan()
            if found is None:
                if self._discard:  # nothing of it is kept
                    del buf[:self._scan_pos]
                    self._scan_pos = 0
                elif len(buf) > self.max_bytes:
                    out.append((None, NOT_PARSED))
                    self._discard = True
                    del buf[:self._scan_pos]
                    self._scan_pos = 0
                    self._first_done = True
                return out
            if self._discard:
                self._discard = False
            elif found > self.max_bytes:
                out.append((None, NOT_PARSED))
            else:
                out.append((bytes(buf[:found]), NOT_PARSED))
            del buf[:found]
            self._scanning = False
            self._first_done = True

    def _scan(self) -> int | None:
        """Continue the structure scan; the end of the value, or None (incomplete).

        Linear in the bytes received, however the value is split: the scan resumes where it
        stopped, also inside a string."""
        depth = self._depth
        buf = self._buf
        pos = self._scan_pos
        if self._in_string:
            m = _STRING_REST.match(buf, pos)
            if m is None:
                self._scan_pos = _STRING_PART.match(buf, pos).end()  # type: ignore[union-attr]
                return None
            pos = m.end()
            self._in_string = False
        for m in _TOKEN.finditer(buf, pos):
            t = buf[m.start()]
            if t == 0x22:  # '"'
                if m.end() - m.start() == 1:  # a string that has not ended yet
                    self._in_string = True
                    self._scan_pos = _STRING_PART.match(buf, m.end()).end()  # type: ignore[union-attr]
                    self._depth = depth
                    return None
                continue
            if t == 0x7B or t == 0x5B:  # { [
                depth += 1
            else:
                depth -= 1
                if depth <= 0:
                    self._depth = 0
                    return m.end()
        self._scan_pos, self._depth = len(buf), depth
        return None


