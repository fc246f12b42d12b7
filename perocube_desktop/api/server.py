"""Running the read API: uvicorn in the foreground (``serve``) or in a thread beside the GUI.

Loopback addresses need no credentials. Any other listen address needs a bearer token, stored
like the database password: ``PEROCUBE_API_TOKEN`` or the OS keyring (service
``perocube-desktop``, user ``api-token``), never in the YAML. Without one the server refuses
to start.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import socket
import threading

from .. import interrupt, ports
from ..config import Settings
from .app import create_app
from .common import ApiContext
from .pool import ReadOnlyPool

log = logging.getLogger(__name__)

TOKEN_ENV = "PEROCUBE_API_TOKEN"
KEYRING_SERVICE = "perocube-desktop"
KEYRING_USER = "api-token"


class ApiConfigError(ValueError):
    """The server cannot start as configured (one line naming the problem and the fix)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def stored_token() -> str | None:
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except Exception as exc:  # keyring backends raise many kinds; no keyring means no stored token
        log.debug("no OS keyring available: %s", exc)
        return None


def new_token() -> str:
    """Create a random token and store it in the OS keyring; returns it (shown once)."""
    import keyring

    token = secrets.token_urlsafe(32)
    keyring.set_password(KEYRING_SERVICE, KEYRING_USER, token)
    return token


def token_for(host: str) -> str | None:
    """None on loopback; else the stored token, or ApiConfigError."""
    if is_loopback(host):
        return None
    token = stored_token()
    if not token:
        raise ApiConfigError(
            f"the read API listens on {host}, which is not a loopback address, and needs a bearer token: "
            f"set {TOKEN_ENV} or run 'perocube-desktop serve --new-token' (stores one in the OS keyring)")
    if len(token) < 16:
        raise ApiConfigError(f"the API token is too short ({len(token)} characters): use at least 16")
    return token


def build_app(conninfo: str, settings: Settings, host: str, pool_size: int = 8):
    ctx = ApiContext(ReadOnlyPool(conninfo, max_size=pool_size), settings.report, token_for(host))
    return create_app(ctx), ctx


def _uvicorn_config(app, host: str, port: int):
    import uvicorn

    # log_config=None: uvicorn logs through our logging setup; the access log at DEBUG would be noise
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, server_header=False,
                          timeout_graceful_shutdown=5, limit_concurrency=64)


def serve_forever(conninfo: str, settings: Settings, host: str, port: int, sock=None,
                  on_listening=None) -> int | None:
    """Foreground server (``perocube-desktop serve``) on ``sock`` (bound by ``ports.listen``, so the
    port was checked before anything claimed success) or host:port; returns after SIGINT/SIGTERM with
    that signal's number (None: it stopped otherwise)."""
    import uvicorn

    app, ctx = build_app(conninfo, settings, host)
    server = uvicorn.Server(_uvicorn_config(app, host, port))
    # uvicorn handles SIGINT/SIGTERM while it runs, restores these handlers and raises the signal
    # again after its orderly shutdown: they note it, and the caller reports it (exit 130/143)
    caught: list[int] = []
    for sig in interrupt.SIGNALS:
        signal.signal(sig, lambda signum, _frame: caught.append(signum))
    if on_listening is not None:
        on_listening()
    try:
        server.run(sockets=[sock] if sock is not None else None)
    finally:
        ctx.pool.close()
    if not server.started:
        raise ApiConfigError(f"the read API could not listen on {host}:{port} (in use, or not an address of "
                             "this machine): choose another --host/--port")
    return caught[0] if caught else None


class ApiServer:
    """The same server in a thread (the desktop app's ``api.enabled`` switch)."""

    def __init__(self, conninfo: str, settings: Settings, host: str, port: int) -> None:
        import uvicorn

        self.host, self.port = host, port
        app, self.ctx = build_app(conninfo, settings, host, pool_size=4)
        self.server = uvicorn.Server(_uvicorn_config(app, host, port))
        self.thread: threading.Thread | None = None
        self.sock: socket.socket | None = None
        self.error: str | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        # bound here, so that the caller gets the error (a busy port names its holder), not only the log
        try:
            self.sock = ports.listen(self.host, self.port, "the read API",
                                     "stop that one, or choose another port in Settings -> Read API")
        except OSError as exc:
            raise ApiConfigError(str(exc)) from None
        self.thread = threading.Thread(target=self._run, name="read-api", daemon=True)
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if self.server.started or not self.thread.is_alive():
                break
            deadline.wait(0.05)
        if not self.server.started:
            raise ApiConfigError(self.error or f"the read API did not start on {self.host}:{self.port}")
        log.info("read API on %s (docs at %s/docs)", self.url, self.url)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock] if self.sock is not None else None)
        except BaseException as exc:  # SystemExit from uvicorn on bind errors included
            self.error = f"the read API stopped: {exc}"
            log.error(self.error)

    def stop(self, timeout: float = 6.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
        self.ctx.pool.close()
        if self.sock is not None:
            self.sock.close()
