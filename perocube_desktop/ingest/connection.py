"""One client connection of the receiver, as an asyncio protocol (callbacks, no task and streams).

Per request the loop runs one read callback and one callback after the group commit: no stream
reader/writer, task wake-ups or future pairs. Order and flow control as with streams: a
connection's replies are written in order after the commit of its requests; what it sends
meanwhile is held (and its reading paused, so that TCP holds the rest) and answered after that
commit; reading also pauses while the transport's write buffer is above its high-water mark (a
client that does not read its replies). A client that waits for each reply never sends during a
commit, so its reading is never paused: no two epoll changes per request.

The first request decides the framing (``framing.RequestFramer``): when it ends exactly at the
end of the data so far, its frames are held for up to ``Receiver.line_wait_s`` for a line ending;
every further read restarts that wait, as the stream version's timed read did.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..framing import LINE, RAW, Frame, RequestFramer
from ..protocol import Request

if TYPE_CHECKING:
    from .receiver import Receiver

log = logging.getLogger("perocube_desktop.ingest.receiver")  # the operator's log names the receiver

MAX_CLIENTS = 256


class Connection(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self.r = receiver
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.peer = "?"
        self.framer = RequestFramer(receiver.max_line_bytes)
        self.held: list[Frame] = []  # frames not answered yet (framing undecided, or a commit pending)
        self.pending: list[Request] = []  # requests being committed
        self.timer: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in connection_made
        self.busy = False  # a commit of this connection's requests is pending
        self.paused = False  # reading paused (data came during a commit, or replies are not read)
        self.eof = False  # the peer has finished writing
        self.lost = False  # the connection is gone
        self.ended = False  # the end-of-connection answer is made (or being committed)
        self.finished = False  # counted out
        self.counted = False  # counted in ``Receiver.clients``
        self.write_paused = False

    # -- asyncio callbacks ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        r = self.r
        if not peer or not r._allowed(peer[0]):
            r.peers_refused += 1
            log.warning("refused connection from %s (not in the allow-list)", self.peer)
        elif r.clients >= MAX_CLIENTS:
            r.peers_refused += 1
            log.warning("refused connection from %s: %d clients already connected", self.peer, r.clients)
        else:
            r.clients += 1
            r._connections.add(self)
            self.counted = True
            log.info("client connected: %s", self.peer)
            return
        self.ended = self.finished = True
        transport.close()

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        try:
            self._received(data)
        except Exception:
            self._fail("reading a request")

    def _received(self, data: bytes) -> None:
        framer = self.framer
        frames = framer.feed(data)
        if framer.awaiting_decision:  # does a line ending follow the first request (maybe in the next packet)?
            self.held += frames
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_later(self.r.line_wait_s, self._decide_raw)
            return
        if self.held:
            frames, self.held = self.held + frames, []
        if self.busy:  # a client that does not wait for its replies: answered after the commit
            self.held = frames
            self._pause()
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if frames:
            self._answer(frames)

    def eof_received(self) -> bool:
        self.eof = True
        if not self.busy:
            self._end()
        return True  # keep the transport open for the last replies (a peer may shut down writing only)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.counted or self.finished:
            return
        if exc is not None:
            log.info("client %s dropped: %s", self.peer, exc)
        if not self.busy:
            self._end()  # closes (counts the client out) whatever happens

    def pause_writing(self) -> None:
        self.write_paused = True
        self._pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        if not (self.busy or self.ended):
            self._resume()

    # -- internals -----------------------------------------------------------------------------------
    def _decide_raw(self) -> None:
        """No line ending came after the first request: the VIs' framing."""
        self.timer = None
        if self.ended or self.busy:
            return
        try:
            frames, self.held = self.held + self.framer.decide(RAW), []
            if frames:
                self._answer(frames)
        except Exception:
            self._fail("reading a request")

    def _answer(self, frames: list[Frame], unfinished: bytes = b"") -> bool:
        """Parse and hand over to the group commit; True while that commit is pending."""
        requests, quarantined = self.r.parse(frames, self.peer, unfinished)
        if not requests and not quarantined:
            return False
        if quarantined or any(q.accepted for q in requests):
            self.busy = True
            self.pending = requests
            self.r.committer.submit_to(self.loop, requests, quarantined, self._committed)
            return True
        self._reply(requests)
        return False

    def _committed(self, exc: BaseException | None) -> None:
        self.busy = False
        requests, self.pending = self.pending, []
        if exc is not None:  # no ACK: the client re-sends
            log.warning("no reply to %s: the local buffer commit failed (%s)", self.peer, exc)
            self.transport.abort()
            self._close()
            return
        try:
            self._after_commit(requests)
        except Exception:  # never leave the connection paused and counted with nobody to answer it
            self._fail("answering after the commit")

    def _fail(self, what: str) -> None:
        """An unexpected error on this connection: log it naming the peer, drop the connection (the
        client re-sends what it got no reply to) and count it out."""
        log.exception("client %s dropped: error %s", self.peer, what)
        self.ended = True
        self.held = []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.transport.abort()
        if not self.busy:  # else counted out after the pending commit (``_committed``)
            self._close()

    def _after_commit(self, requests: list[Request]) -> None:
        self._reply(requests)
        if self.ended:
            self._close()
        elif self.eof or self.lost:
            self._end()
        elif self.held:
            frames, self.held = self.held, []
            if not self._answer(frames):
                self._resume()
        else:
            self._resume()

    def _pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self.paused and not self.write_paused:
            self.paused = False
            self.transport.resume_reading()

    def _reply(self, requests: list[Request]) -> None:
        r = self.r
        r.requests += len(requests)
        for q in requests:
            r.rows_accepted += q.accepted
            if q.rejected:
                r.rows_rejected += len(q.rejected)
        if not self.transport.is_closing():
            line = self.framer.mode == LINE
            if len(requests) == 1:
                self.transport.write(requests[0].reply(line))
            else:
                self.transport.write(b"".join(q.reply(line) for q in requests))

    def _end(self) -> None:
        """The end of the connection: what is complete is stored, an unfinished request quarantined."""
        if self.ended:
            return
        self.ended = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        try:
            framer = self.framer
            frames, self.held = self.held, []
            if framer.awaiting_decision:
                frames += framer.decide(RAW)
            more, rest = framer.close()
            frames += more
            if (frames or rest) and self._answer(frames, unfinished=rest):
                return  # closed after the commit
        except Exception:
            log.exception("client %s: error at the end of the connection", self.peer)
        self._close()

    def _close(self) -> None:
        if self.finished:
            return
        self.finished = True
        r = self.r
        r.clients -= 1
        r._connections.discard(self)
        log.info("client disconnected: %s", self.peer)
        self.transport.close()
