"""TCP receiver for the LabVIEW protocol: an asyncio server in its own thread.

Requests are framed by JSON value boundaries (``framing.RequestFramer``); a connection
answers in the framing its first request used: reply lines for line-protocol clients, the
3-byte ``ACK``/``ERR`` for the lab's VIs. The requests of one read are parsed together and
committed to the disk buffer as one group (the ``GroupCommitter`` also merges groups from
all clients); replies are written, in order, only after that commit. Each connection is an
asyncio protocol (``connection.Connection``): callbacks, not a task on streams. A complete request is
stored even when the peer closes right after sending it; the bytes of an unfinished one are
quarantined. Nothing here touches Qt or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from datetime import timezone
from zoneinfo import ZoneInfo

from ..framing import Frame
from ..protocol import Request, parse_frame
from .committer import GroupCommitter, Quarantined
from .connection import MAX_CLIENTS, Connection

log = logging.getLogger(__name__)

__all__ = ["MAX_CLIENTS", "GroupCommitter", "Receiver"]

LINE_WAIT_S = 0.1  # how long a line ending may take to follow a connection's first request


class Receiver:
    """Listens on host:port; status counters are plain attributes read by other threads."""

    def __init__(
        self,
        committer: GroupCommitter,
        host: str = "127.0.0.1",
        port: int = 5000,
        allow: list[str] | None = None,
        source_timezone: str = "UTC",
        max_line_bytes: int = 1 << 20,
        line_wait_s: float = LINE_WAIT_S,
        live_samples: bool = True,
    ) -> None:
        self.committer = committer
        self.host = host
        self.port = port
        self.allow = [ipaddress.ip_network(a, strict=False) for a in (allow or ["127.0.0.1", "::1"])]
        self.tz = timezone.utc if source_timezone == "UTC" else ZoneInfo(source_timezone)
        self.max_line_bytes = max_line_bytes
        self.line_wait_s = line_wait_s
        self.live_samples = live_samples  # build Sample objects for the live tap (MPP rows)
        self.clients = 0
        self.requests = 0
        self.rows_accepted = 0
        self.rows_rejected = 0
        self.lines_refused = 0
        self.peers_refused = 0
        self.unfinished = 0  # connections closed in the middle of a request
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._connections: set[Connection] = set()

    # lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="receiver", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._start_error is not None:
            raise self._start_error

    def stop(self) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def set_allow(self, allow: list[str]) -> None:
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            self._server = loop.run_until_complete(loop.create_server(lambda: Connection(self), self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            log.info("receiver listening on %s:%d", self.host, self.port)
        except OSError as exc:
            self._start_error = OSError(f"receiver cannot listen on {self.host}:{self.port}: {exc.strerror}")
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for c in list(self._connections):  # what is complete is stored, as at any end of a connection
                c.transport.close()
            loop.run_until_complete(asyncio.sleep(0.05))
            tasks = list(asyncio.all_tasks(loop))
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()
            log.info("receiver stopped")

    def _allowed(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allow)

    def parse(self, frames: list[Frame], peer: str, unfinished: bytes = b"") -> tuple[list[Request], Quarantined]:
        """A connection's frames -> requests, and the quarantine items (bad input, naming the peer).

        A frame whose parse fails unexpectedly becomes an error request of its own (quarantined,
        answered ``ERR``): one bad frame costs only itself, never the connection or its neighbours."""
        requests: list[Request] = []
        quarantined: Quarantined = []
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
                    self.lines_refused += 1
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
            self.unfinished += 1
            reason = f"connection closed in the middle of a request ({len(unfinished)} bytes), nothing of it stored"
            quarantined.append((now_us or int(time.time() * 1_000_000), peer, unfinished.decode("utf-8", "replace"),
                                reason))
            log.warning("from %s: %s", peer, reason)
        return requests, quarantined


def _text(s: str) -> str:
    """Text SQLite and the log can store: lone surrogates (valid in JSON, not in UTF-8) as escapes."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")
