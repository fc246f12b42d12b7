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
import enum
import logging
from typing import Protocol

from ..framing import LINE, RAW, Frame, RequestFramer
from ..protocol import Request
from .committer import Done, Quarantined
from .counters import ReceiverCounters

MAX_CLIENTS = 256


class ReceiverSide(Protocol):
    """What a connection may ask of the receiver that made it (``receiver.Receiver``)."""

    counters: ReceiverCounters
    line_wait_s: float  # how long a line ending may take to follow the first request
    max_line_bytes: int
    log: logging.Logger  # the receiver's: the operator's log names the receiver for its clients too

    def admit(self, connection: Connection, host: str | None) -> str | None:
        """Count a new connection in; else the reason it is refused (counted as refused)."""

    def release(self, connection: Connection) -> None:
        """Count a connection out (once, when it closes)."""

    def parse(self, frames: list[Frame], peer: str, unfinished: bytes = b"") -> tuple[list[Request], Quarantined]:
        """Frames -> requests and quarantine items (``request_parser.RequestParser.parse``)."""

    def commit(self, loop: asyncio.AbstractEventLoop, requests: list[Request], quarantined: Quarantined,
               done: Done) -> None:
        """Make the requests durable, then call ``done`` in ``loop``'s thread."""


class State(enum.Enum):
    OPEN = "open"  # reading and answering requests
    ENDING = "ending"  # the peer is done (end of its data, connection lost) or the connection failed:
    #                    what is complete is answered, then it closes
    CLOSED = "closed"  # counted out (or refused), transport closed


class Connection(asyncio.Protocol):
    """One client. Lifecycle: ``state`` (open -> ending -> closed); ``committing`` while its
    requests are in a group commit (``pending``); reading paused by ``read_paused`` (data came
    during a commit) or ``write_paused`` (the client does not read its replies)."""

    def __init__(self, receiver: ReceiverSide) -> None:
        self.receiver = receiver
        self.log = receiver.log
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in connection_made
        self.peer = "?"
        self.state = State.OPEN
        self.framer = RequestFramer(receiver.max_line_bytes)
        self.held: list[Frame] = []  # frames not answered yet (framing undecided, a commit pending, the end)
        self.unfinished = b""  # the end: bytes of an unfinished request, quarantined with the last answer
        self.pending: list[Request] | None = None  # requests being committed; None: no commit pending
        self.timer: asyncio.TimerHandle | None = None
        self.read_paused = False  # data came during a commit: TCP holds the rest until it is answered
        self.write_paused = False  # the transport's write buffer is full: the client does not read

    @property
    def committing(self) -> bool:
        return self.pending is not None

    # -- asyncio callbacks ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        refused = self.receiver.admit(self, peer[0] if peer else None)
        if refused is None:
            self.log.info("client connected: %s", self.peer)
            return
        self.log.warning("refused connection from %s%s", self.peer, refused)
        self.state = State.CLOSED
        transport.close()

    def data_received(self, data: bytes) -> None:
        if self.state is not State.OPEN:
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
            self.timer = self.loop.call_later(self.receiver.line_wait_s, self._decide_raw)
            return
        if self.held:
            frames, self.held = self.held + frames, []
        if self.committing:  # a client that does not wait for its replies: answered after the commit
            self.held = frames
            self._pause()
            return
        self._cancel_timer()
        if frames:
            self._answer(frames)

    def eof_received(self) -> bool:
        self._peer_done()
        return True  # keep the transport open for the last replies (a peer may shut down writing only)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state is State.CLOSED:  # refused, or closed by us
            return
        if exc is not None:
            self.log.info("client %s dropped: %s", self.peer, exc)
        self._peer_done()  # closes (counts the client out) whatever happens

    def pause_writing(self) -> None:
        self.write_paused = True
        self._pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.state is State.OPEN and not self.committing:
            self._resume()

    # -- internals -----------------------------------------------------------------------------------
    def _peer_done(self) -> None:
        """The peer finished writing, or the connection is gone: answer what is complete (after the
        pending commit, if any), then close."""
        if self.state is State.OPEN:
            self._take_the_end()
        if not self.committing:
            self._finish()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _decide_raw(self) -> None:
        """No line ending came after the first request: the VIs' framing."""
        self.timer = None
        if self.state is not State.OPEN or self.committing:
            return
        try:
            frames, self.held = self.held + self.framer.decide(RAW), []
            if frames:
                self._answer(frames)
        except Exception:
            self._fail("reading a request")

    def _answer(self, frames: list[Frame], unfinished: bytes = b"") -> bool:
        """Parse and hand over to the group commit; True while that commit is pending."""
        requests, quarantined = self.receiver.parse(frames, self.peer, unfinished)
        if not requests and not quarantined:
            return False
        if quarantined or any(q.accepted for q in requests):
            self.pending = requests
            self.receiver.commit(self.loop, requests, quarantined, self._committed)
            return True
        self._reply(requests)
        return False

    def _committed(self, exc: BaseException | None) -> None:
        requests, self.pending = self.pending or [], None
        if exc is not None:  # no ACK: the client re-sends
            self.log.warning("no reply to %s: the local buffer commit failed (%s)", self.peer, exc)
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
        self.log.exception("client %s dropped: error %s", self.peer, what)
        self.state = State.ENDING
        self.held, self.unfinished = [], b""  # nothing more is answered
        self._cancel_timer()
        self.transport.abort()
        if not self.committing:  # else counted out after the pending commit (``_committed``)
            self._close()

    def _after_commit(self, requests: list[Request]) -> None:
        self._reply(requests)
        if self.state is not State.OPEN:
            self._finish()
        elif self.held:
            frames, self.held = self.held, []
            if not self._answer(frames):
                self._resume()
        else:
            self._resume()

    def _pause(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self.read_paused and not self.write_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def _reply(self, requests: list[Request]) -> None:
        self.receiver.counters.answered(requests)
        if not self.transport.is_closing():
            line = self.framer.mode == LINE
            if len(requests) == 1:
                self.transport.write(requests[0].reply(line))
            else:
                self.transport.write(b"".join(q.reply(line) for q in requests))

    def _take_the_end(self) -> None:
        """Once, as the connection starts ending: the requests the framer still holds join the held
        ones, and the bytes of an unfinished request are kept to be quarantined."""
        self.state = State.ENDING
        self._cancel_timer()
        try:
            framer = self.framer
            if framer.awaiting_decision:
                self.held += framer.decide(RAW)
            more, self.unfinished = framer.close()
            self.held += more
        except Exception:
            self.log.exception("client %s: error at the end of the connection", self.peer)
            self.held, self.unfinished = [], b""

    def _finish(self) -> None:
        """Answer what the end took (it is stored even when the peer closed right after sending it),
        then close: now, or after the commit of that answer."""
        if self.state is State.CLOSED:
            return
        frames, rest = self.held, self.unfinished
        self.held, self.unfinished = [], b""
        try:
            if (frames or rest) and self._answer(frames, unfinished=rest):
                return  # closed after the commit
        except Exception:
            self.log.exception("client %s: error at the end of the connection", self.peer)
        self._close()

    def _close(self) -> None:
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.receiver.release(self)
        self.log.info("client disconnected: %s", self.peer)
        self.transport.close()
