"""TCP receiver for the LabVIEW protocol: an asyncio server in its own thread.

Requests are framed by JSON value boundaries (``framing.RequestFramer``); a connection
answers in the framing its first request used: reply lines for line-protocol clients, the
3-byte ``ACK``/``ERR`` for the lab's VIs. The requests of one read are parsed together and
committed to the disk buffer as one group (the ``GroupCommitter`` also merges groups from
all clients); replies are written, in order, only after that commit. Each connection is an
asyncio protocol (``connection.Connection``): callbacks, not a task on streams; what it may ask of
the receiver is ``connection.ReceiverSide``, the counters are one ``ReceiverCounters`` object and
requests are parsed by ``request_parser.RequestParser``. A complete request is
stored even when the peer closes right after sending it; the bytes of an unfinished one are
quarantined. Nothing here touches Qt or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import threading
from datetime import timezone
from zoneinfo import ZoneInfo

from .. import ports
from ..framing import Frame
from ..protocol import Request
from .committer import Done, GroupCommitter, Quarantined
from .connection import MAX_CLIENTS, Connection
from .counters import ReceiverCounters
from .request_parser import RequestParser

log = logging.getLogger(__name__)

__all__ = ["MAX_CLIENTS", "GroupCommitter", "Receiver"]

LINE_WAIT_S = 0.1  # how long a line ending may take to follow a connection's first request


class Receiver:
    """Listens on host:port; the status counters (``counters``) are read by other threads.
    Implements ``connection.ReceiverSide`` for its connections."""

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
        self.max_line_bytes = max_line_bytes
        self.line_wait_s = line_wait_s
        self.log = log
        self.counters = ReceiverCounters()
        tz = timezone.utc if source_timezone == "UTC" else ZoneInfo(source_timezone)
        self._parser = RequestParser(self.counters, tz, max_line_bytes, live_samples, log)
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
            self._start_error = _listen_error(exc, self.host, self.port)
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

    # what a connection may ask (connection.ReceiverSide) -------------------
    def admit(self, connection: Connection, host: str | None) -> str | None:
        counters = self.counters
        if host is None or not self._allowed(host):
            counters.peers_refused += 1
            return " (not in the allow-list)"
        if counters.clients >= MAX_CLIENTS:
            counters.peers_refused += 1
            return f": {counters.clients} clients already connected"
        counters.clients += 1
        self._connections.add(connection)
        return None

    def release(self, connection: Connection) -> None:
        self.counters.clients -= 1
        self._connections.discard(connection)

    def parse(self, frames: list[Frame], peer: str, unfinished: bytes = b"") -> tuple[list[Request], Quarantined]:
        return self._parser.parse(frames, peer, unfinished)

    def commit(self, loop: asyncio.AbstractEventLoop, requests: list[Request], quarantined: Quarantined,
               done: Done) -> None:
        self.committer.submit_to(loop, requests, quarantined, done)

    def _allowed(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allow)


def _listen_error(exc: OSError, host: str, port: int) -> OSError:
    """One line, the address once (asyncio's own message repeats it): a busy port names its holder."""
    if exc.errno == errno.EADDRINUSE:
        return ports.in_use_message(host, port, "the receiver", "another receiver (the GUI or a 'receive' service) "
                                    "probably has it: stop that one, or choose another --port")
    # asyncio: "error while attempting to bind on address (...): reason"
    reason = (exc.strerror or str(exc)).rsplit("): ", 1)[-1]
    return OSError(exc.errno, f"the receiver cannot listen on {host}:{port}: {reason}")
