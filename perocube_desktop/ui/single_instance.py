"""One GUI per PC, user and data folder: a second start asks the running one to show its window
(``ui.process.run_gui``), on the page it was started with (``--page``).

The request is one line: ``raise`` or ``raise page=<name>``; an older first instance that reads
only ``raise`` still shows its window."""

from __future__ import annotations

import getpass
import hashlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtNetwork import QLocalServer

log = logging.getLogger(__name__)


def instance_name(data_dir) -> str:
    """The local-socket name of the running instance: one per user and data folder."""
    digest = hashlib.sha1(str(data_dir).encode("utf-8")).hexdigest()[:12]
    user = "".join(c for c in getpass.getuser() if c.isalnum()) or "user"
    return f"perocube-desktop-{user}-{digest}"


class SingleInstance:
    """QLocalServer/QLocalSocket: the first start listens, a second start asks it to show its window."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.server: QLocalServer | None = None

    def signal_running(self, timeout_ms: int = 1000, page: str | None = None) -> bool:
        from PySide6.QtNetwork import QLocalSocket

        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(b"raise" + (f" page={page}".encode() if page else b"") + b"\n")
        sock.flush()
        sock.waitForBytesWritten(timeout_ms)
        sock.disconnectFromServer()
        return True

    def listen(self, on_request) -> None:
        from PySide6.QtNetwork import QLocalServer

        server = QLocalServer()
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # a socket file left by a crash (Unix); nobody answered signal_running, so it is stale
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("single-instance guard unavailable (%s): a second start will not be detected",
                            server.errorString())
                return

        def accept():
            while server.hasPendingConnections():
                conn = server.nextPendingConnection()
                got = bytearray()
                conn.readyRead.connect(lambda c=conn, got=got: _read(c, got, on_request))
                conn.disconnected.connect(conn.deleteLater)

        server.newConnection.connect(accept)
        self.server = server

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


def _read(conn, got: bytearray, on_request) -> None:
    """Each complete request line: ``on_request(page)`` (page "" when none was asked for)."""
    got += bytes(conn.readAll().data())
    while b"\n" in got:
        line, _, rest = bytes(got).partition(b"\n")
        got[:] = rest
        words = line.decode("utf-8", "replace").split()
        page = next((w[5:] for w in words[1:] if w.startswith("page=")), "")
        on_request(page)
