"""Listening ports: bind before claiming success, and name what holds a busy port (base layer, no Qt).

``listen`` returns a bound, listening socket that the server then uses (uvicorn's ``sockets=``), so
there is no gap between the check and the server's own bind. ``PortInUse`` says in one line which
port and which process holds it (psutil: on Windows and Linux for the user's own processes; other
users' processes may be hidden, then it says "another program").
"""

from __future__ import annotations

import errno
import logging
import socket
import sys

log = logging.getLogger(__name__)


class PortInUse(OSError):
    """``str()`` is one line: the address, what holds it and the fix."""

    def __init__(self, message: str, host: str, port: int, holder: str | None) -> None:
        super().__init__(errno.EADDRINUSE, message)
        self.message, self.host, self.port, self.holder = message, host, port, holder

    def __str__(self) -> str:
        return self.message


def _describe(pid: int) -> str:
    import psutil

    try:
        proc = psutil.Process(pid)
        cmd = " ".join(" ".join(proc.cmdline()).split()) or proc.name()  # one line, whatever the arguments
    except (psutil.Error, OSError):
        return f"process {pid}"
    return f"process {pid} ({cmd[:100]}{'…' if len(cmd) > 100 else ''})"


def holder(port: int) -> str | None:
    """Who listens on ``port`` (TCP), as "process 1234 (command line)"; None when it cannot be seen."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError) as exc:  # macOS without privileges, a hardened /proc
        log.debug("cannot list connections: %s", exc)
        return None
    pids = sorted({c.pid for c in conns if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   and c.pid})
    return ", ".join(_describe(pid) for pid in pids) or None


def in_use_message(host: str, port: int, what: str, fix: str) -> PortInUse:
    """The one-line error for a busy port: ``what`` cannot listen on host:port, who holds it, ``fix``."""
    who = holder(port)
    held = f"it is held by {who}" if who else "the port is in use by another program"
    return PortInUse(f"{what} cannot listen on {host}:{port}: {held}; {fix}", host, port, who)


def listen(host: str, port: int, what: str = "the server", fix: str = "stop that one, or choose another --port",
           backlog: int = 128) -> socket.socket:
    """A TCP socket bound to host:port and listening; ``PortInUse`` (one line) when the port is taken,
    OSError with a short reason for an address that is not this machine's."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise OSError(errno.EADDRNOTAVAIL, f"{what} cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform == "win32":  # Windows' SO_REUSEADDR would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
        else:  # as uvicorn and asyncio do: a port in TIME_WAIT is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        # Windows: WSAEADDRINUSE, or WSAEACCES for a port another program holds exclusively
        if exc.errno == errno.EADDRINUSE or getattr(exc, "winerror", None) in (10048, 10013):
            raise in_use_message(host, port, what, fix) from None
        raise OSError(exc.errno, f"{what} cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
