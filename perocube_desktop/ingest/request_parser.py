"""A connection's frames -> requests and quarantine items. Pure: no sockets, no buffer, no loop;
it only counts what it refuses in the counters it is given."""

from __future__ import annotations

import logging
import time
from datetime import timezone
from zoneinfo import ZoneInfo

from ..framing import Frame
from ..protocol import Request, parse_frame
from .committer import Quarantined
from .counters import ReceiverCounters


class RequestParser:
    def __init__(self, counters: ReceiverCounters, tz: ZoneInfo | timezone, max_line_bytes: int,
                 live_samples: bool, log: logging.Logger) -> None:
        self.counters = counters
        self.tz = tz
        self.max_line_bytes = max_line_bytes
        self.live_samples = live_samples  # build Sample objects for the live tap (MPP rows)
        self.log = log  # the receiver's: the operator's log names the receiver

    def parse(self, frames: list[Frame], peer: str, unfinished: bytes = b"") -> tuple[list[Request], Quarantined]:
        """A connection's frames -> requests, and the quarantine items (bad input, naming the peer).

        A frame whose parse fails unexpectedly becomes an error request of its own (quarantined,
        answered ``ERR``): one bad frame costs only itself, never the connection or its neighbours."""
        requests: list[Request] = []
        quarantined: Quarantined = []
        log = self.log
        now_us = 0
        for raw, obj in frames:
            try:
                parsed = parse_frame(raw, self.tz, obj, self.max_line_bytes, self.live_samples)
            except Exception as exc:  # a defect or input nobody foresaw: this frame only
                log.exception("from %s: a request could not be parsed", peer)
                parsed = [Request("error", error_code="BAD_REQUEST",
                                  error_reason=_text(f"could not be parsed ({type(exc).__name__}: {exc})"))]
            for req in parsed:
                requests.append(req)
                if req.kind == "error":
                    self.counters.lines_refused += 1
                    text = "<request longer than the limit>" if raw is None else raw.decode("utf-8", "replace")
                    if req.error_code == "TOO_DEEP":  # the start tells what it was; kept small
                        text = f"{text[:200]}... ({len(text)} characters)"
                    now_us = now_us or int(time.time() * 1_000_000)
                    quarantined.append((now_us, peer, text, _text(f"{req.error_code} {req.error_reason}")))
                    log.warning("from %s: %s %s", peer, req.error_code, _text(req.error_reason))
                for rej in req.rejected:
                    now_us = now_us or int(time.time() * 1_000_000)
                    quarantined.append((now_us, peer, _text(rej.raw), _text(rej.reason)))
                    log.warning("from %s: row rejected: %s", peer, _text(rej.reason))
        if unfinished:
            self.counters.unfinished += 1
            reason = f"connection closed in the middle of a request ({len(unfinished)} bytes), nothing of it stored"
            quarantined.append((now_us or int(time.time() * 1_000_000), peer, unfinished.decode("utf-8", "replace"),
                                reason))
            log.warning("from %s: %s", peer, reason)
        return requests, quarantined


def _text(s: str) -> str:
    """Text SQLite and the log can store: lone surrogates (valid in JSON, not in UTF-8) as escapes."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")
