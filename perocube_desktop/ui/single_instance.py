"""One GUI per PC, user and data folder: a second start asks the running one to show its window
(``app.run_gui``)."""

from __future__ import annotations

import getpass
import hashlib
import logging

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
        self.server = None

    def signal_running(self, timeout_ms: int = 1000) -> bool:
        from PySide6.QtNetwork import QLocalSocket

        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(b"raise\n")
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
                conn.readyRead.connect(lambda c=conn: (c.readAll(), on_request()))
                conn.disconnected.connect(conn.deleteLater)

        server.newConnection.connect(accept)
        self.server = server

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
