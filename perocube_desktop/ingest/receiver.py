"""TCP receiver for the LabVIEW protocol: an asyncio server in its own thread.

Requests are framed by JSON value boundaries (``framing.RequestFramer``); a connection
answers in the framing its first request used: reply lines for line-protocol clients, the
3-byte ``ACK``/``ERR`` for the lab's VIs. The requests of one read are parsed together and
committed to the disk buffer as one group (the ``GroupCommitter`` also merges groups from
all clients); replies are written, in order, only after that commit. A complete request is
stored even when the peer closes right after sending it; the bytes of an unfinished one are
quarantined. Nothing here touches Qt or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timezone
from zoneinfo import ZoneInfo

from ..framing import LINE, RAW, Frame, RequestFramer
from ..protocol import Request, parse_frame
from .buffer import DiskBuffer

log = logging.getLogger(__name__)

MAX_CLIENTS = 256
READ_BYTES = 1 << 18
LINE_WAIT_S = 0.1  # how long a line ending may take to follow a connection's first request


@dataclass
class _Group:
    requests: list[Request]
    quarantined: list[tuple[int, str, str, str]]
    future: Future


class GroupCommitter:
    """One thread that commits everything queued since its last commit in one transaction."""

    def __init__(self, buffer: DiskBuffer, on_committed: Callable[[list[Request]], None]) -> None:
        self.buffer = buffer
        self.on_committed = on_committed
        self._queue: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="buffer-commit", daemon=True)
        self._thread.start()

    def submit(self, requests: list[Request], quarantined: list[tuple[int, str, str, str]]) -> Future:
        fut: Future = Future()
        self._queue.put(_Group(requests, quarantined, fut))
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
            requests = [r for g in groups for r in g.requests]
            quarantined = [q for g in groups for q in g.quarantined]
            try:
                self.buffer.append_requests(requests, quarantined)
            except Exception as exc:  # the clients get no ACK and will re-send
                log.exception("local buffer commit failed")
                for g in groups:
                    g.future.set_exception(exc)
            else:
                for g in groups:
                    g.future.set_result(None)
                self.on_committed(requests)
            if stop:
                return


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="receiver", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._start_error is not None:
            raise self._start_error

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
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
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port, limit=READ_BYTES)
            )
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
            for w in list(self._writers):  # let handlers end on their own: no cancelled-task noise
                w.close()
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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if peer else "?"
        if not peer or not self._allowed(peer[0]):
            self.peers_refused += 1
            log.warning("refused connection from %s (not in the allow-list)", peer_text)
            writer.close()
            return
        if self.clients >= MAX_CLIENTS:
            self.peers_refused += 1
            log.warning("refused connection from %s: %d clients already connected", peer_text, self.clients)
            writer.close()
            return
        self.clients += 1
        self._writers.add(writer)
        log.info("client connected: %s", peer_text)
        framer = RequestFramer(self.max_line_bytes)
        try:
            eof = False
            while not eof:
                data = await reader.read(READ_BYTES)
                if not data:
                    break
                frames = framer.feed(data)
                # the first request's framing: does a line ending follow it (maybe in the next packet)?
                while framer.awaiting_decision:
                    try:
                        more = await asyncio.wait_for(reader.read(READ_BYTES), self.line_wait_s)
                    except asyncio.TimeoutError:
                        more = None
                    if not more:
                        eof = more is not None
                        frames += framer.decide(RAW)
                        break
                    frames += framer.feed(more)
                if frames:
                    await self._answer(frames, peer_text, writer, framer.mode == LINE)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("client %s dropped: %s", peer_text, exc)
        try:
            # the end of the connection: what is complete is stored, an unfinished request quarantined
            frames, rest = framer.close()
            if frames or rest:
                await self._answer(frames, peer_text, writer, framer.mode == LINE, unfinished=rest)
        except ConnectionError as exc:
            log.debug("no reply to %s after it closed: %s", peer_text, exc)
        finally:
            self.clients -= 1
            self._writers.discard(writer)
            log.info("client disconnected: %s", peer_text)
            writer.close()

    async def _answer(self, frames: list[Frame], peer: str, writer: asyncio.StreamWriter, line_protocol: bool,
                      unfinished: bytes = b"") -> None:
        requests: list[Request] = []
        quarantined: list[tuple[int, str, str, str]] = []
        now_us = int(time.time() * 1_000_000)
        for raw, obj in frames:
            for req in parse_frame(raw, self.tz, obj, self.max_line_bytes, self.live_samples):
                requests.append(req)
                if req.kind == "error":
                    self.lines_refused += 1
                    text = "<request longer than the limit>" if raw is None else raw.decode("utf-8", "replace")
                    quarantined.append((now_us, peer, text, f"{req.error_code} {req.error_reason}"))
                    log.warning("from %s: %s %s", peer, req.error_code, req.error_reason)
                for rej in req.rejected:
                    quarantined.append((now_us, peer, rej.raw, rej.reason))
                    log.warning("from %s: row rejected: %s", peer, rej.reason)
        if unfinished:
            self.unfinished += 1
            reason = f"connection closed in the middle of a request ({len(unfinished)} bytes), nothing of it stored"
            quarantined.append((now_us, peer, unfinished.decode("utf-8", "replace"), reason))
            log.warning("from %s: %s", peer, reason)
        if not requests and not quarantined:
            return
        if any(r.accepted for r in requests) or quarantined:
            await asyncio.wrap_future(self.committer.submit(requests, quarantined))
        self.requests += len(requests)
        self.rows_accepted += sum(r.accepted for r in requests)
        self.rows_rejected += sum(len(r.rejected) for r in requests)
        if requests and not writer.is_closing():
            writer.write(b"".join(r.reply(line_protocol) for r in requests))
            await writer.drain()
