"""The receiver's status counters, one object the receiver hands to each connection and parser.

Written only in the receiver's event-loop thread; read by other threads (status bar, ``receive``'s
log line) as plain ints, which needs no lock in CPython (a read sees the old or the new value).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import Request


@dataclass
class ReceiverCounters:
    clients: int = 0  # connections admitted and not yet closed
    requests: int = 0  # requests answered
    rows_accepted: int = 0
    rows_rejected: int = 0
    lines_refused: int = 0  # requests answered ERR (not JSON, too long, unknown type, ...)
    peers_refused: int = 0  # connections refused (allow-list, too many clients)
    unfinished: int = 0  # connections closed in the middle of a request

    def answered(self, requests: list[Request]) -> None:
        """Count the requests of one reply and their rows."""
        self.requests += len(requests)
        for q in requests:
            self.rows_accepted += q.accepted
            if q.rejected:
                self.rows_rejected += len(q.rejected)
