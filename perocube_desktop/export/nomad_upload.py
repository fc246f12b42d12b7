"""Send an upload zip to a NOMAD API (v1) and wait for its processing. Never publishes.

The routes, as NOMAD 1.4 defines them (``nomad/app/v1/routers/uploads.py``):

* ``POST /uploads?upload_name=...`` with the zip as multipart ``file`` (``Accept: application/json``):
  ``{"upload_id": ..., "data": {"process_running": ..., "process_status": ..., ...}}``. NOMAD starts
  processing a file upload by itself; only when the reply says nothing runs do we ask for it:
* ``POST /uploads/{id}/action/process``: 400 while a process runs.
* ``GET /uploads/{id}``: ``data.process_running``, ``process_status`` (SUCCESS, FAILURE, ...),
  ``last_status_message``, ``errors``, ``entries``.
* ``GET /uploads/{id}/entries``: per entry ``mainfile``, ``process_status``, ``errors``; the counts
  ``processing_successful`` / ``processing_failed``.

Errors are :class:`UploadError` with one line naming the problem and the fix. The token is
``NOMAD_TOKEN`` or the OS keyring (``perocube-desktop config set-nomad-token``), never the YAML.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..db.connection import KEYRING_SERVICE

log = logging.getLogger(__name__)

TOKEN_ENV = "NOMAD_TOKEN"
KEYRING_USER = "nomad-token"
CHUNK = 1 << 20
COMPLETED = ("SUCCESS", "FAILURE")  # NOMAD's ProcessStatus.STATUSES_COMPLETED


class UploadError(Exception):
    """One line: what went wrong and what to do."""


@dataclass
class UploadDone:
    upload_id: str
    url: str  # where the scientist opens it (the GUI when the API URL has NOMAD's shape)
    entries: int = 0
    failed: list[str] = field(default_factory=list)
    message: str = ""


def token() -> str:
    value = os.environ.get(TOKEN_ENV, "").strip()
    if value:
        return value
    try:
        import keyring

        value = (keyring.get_password(KEYRING_SERVICE, KEYRING_USER) or "").strip()
    except Exception as exc:  # keyring backends raise many kinds; no keyring means no stored token
        log.debug("no OS keyring available: %s", exc)
    if not value:
        raise UploadError(f"no NOMAD token: set {TOKEN_ENV}, or store one with 'perocube-desktop config "
                          "set-nomad-token' (NOMAD: your name > API token, or GET /auth/app_token)")
    return value


def store_token(value: str) -> None:
    import keyring

    keyring.set_password(KEYRING_SERVICE, KEYRING_USER, value.strip())


def api_base(url: str) -> str:
    """The v1 API root: ``https://host/prod/v1/api/v1`` as given, ``.../api`` or a bare Oasis URL completed."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UploadError(f"--upload needs an http(s) URL of a NOMAD API, not {url!r} "
                          "(e.g. https://nomad-lab.eu/prod/v1/test/api/v1)")
    if url.endswith("/api/v1"):
        return url
    return url + ("/v1" if url.endswith("/api") else "/api/v1")


def gui_url(base: str, upload_id: str) -> str:
    root = base[: -len("/api/v1")]
    return f"{root}/gui/user/uploads/upload/id/{upload_id}"


class _Client:
    def __init__(self, base: str, token: str, timeout: float = 60.0) -> None:
        self.base, self.token, self.timeout = base, token, timeout
        self.host = urllib.parse.urlsplit(base).netloc

    def call(self, method: str, path: str, body=None, headers: dict | None = None, size: int = 0) -> dict:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raise UploadError(self._http_error(exc, method, path, size)) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (ConnectionResetError, BrokenPipeError)) and body is not None:
                raise UploadError(self._lost(reason)) from None
            raise UploadError(f"cannot reach NOMAD at {self.base} ({reason}): check the URL, the network "
                              "and that the server runs") from None
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
            raise UploadError(self._lost(exc) if body is not None else
                              f"NOMAD at {self.host} closed the connection during {method} {path} ({exc}): "
                              "try again later") from None
        try:
            return json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            raise UploadError(f"NOMAD at {self.host} answered {method} {path} with something that is not JSON "
                              f"({text[:80]!r}): is {self.base} a NOMAD API (.../api/v1)?") from None

    def _lost(self, exc) -> str:
        return (f"the connection to {self.host} was lost during the upload ({exc or type(exc).__name__}): "
                "NOMAD received no complete upload; try again")

    def _http_error(self, exc: urllib.error.HTTPError, method: str, path: str, size: int) -> str:
        try:
            detail = json.loads(exc.read().decode("utf-8", "replace")).get("detail")
        except (ValueError, AttributeError, OSError):
            detail = None
        detail = f": {detail}" if isinstance(detail, str) and detail else ""
        if exc.code == 401:
            return (f"NOMAD at {self.host} refused the token (401 Unauthorized{detail}): get a new one and set "
                    f"{TOKEN_ENV} or run 'perocube-desktop config set-nomad-token'")
        if exc.code == 413:
            return (f"the upload ({size / 1e6:.1f} MB) is too large for {self.host} (413 Request Entity Too "
                    "Large): export fewer devices or a shorter period (--from/--to), or ask the Oasis "
                    "administrator to raise the size limit")
        return f"NOMAD at {self.host} answered {exc.code} {exc.reason} to {method} {path}{detail}"


def _multipart(path: Path, boundary: str, sent: Callable[[int], None],
               cancel: threading.Event | None) -> tuple[Iterator[bytes], int]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        done = 0
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                if cancel is not None and cancel.is_set():
                    raise UploadError("upload cancelled: nothing was created in NOMAD")
                yield chunk
                done += len(chunk)
                sent(done)
        yield tail

    return body(), len(head) + size + len(tail)


def _failed_entries(client: _Client, upload_id: str) -> tuple[int, list[str]]:
    failed, page, seen = [], 1, 0
    while True:
        res = client.call("GET", f"/uploads/{upload_id}/entries?page_size=100&page={page}")
        rows = res.get("data") or []
        for e in rows:
            if e.get("process_status") == "FAILURE" or e.get("errors"):
                errors = "; ".join(e.get("errors") or []) or e.get("last_status_message") or "failed"
                failed.append(f"{e.get('mainfile', e.get('entry_id', '?'))}: {errors}")
        seen += len(rows)
        total = int((res.get("pagination") or {}).get("total") or 0)
        if not rows or seen >= total:
            return total, failed
        page += 1


def upload_and_process(url: str, path: Path, token: str, upload_name: str,
                       status: Callable[[str], None] | None = None, progress: Callable[[int, int], None] | None = None,
                       cancel: threading.Event | None = None, poll_s: float = 2.0,
                       max_wait_s: float = 6 * 3600) -> UploadDone:
    """Upload ``path``, have NOMAD process it, wait for the end; failed entries are listed, not raised
    (a failed *upload* processing raises). Never publishes."""
    say = status or (lambda _text: None)
    client = _Client(api_base(url), token)
    boundary = uuid.uuid4().hex
    size = path.stat().st_size
    body, length = _multipart(path, boundary, lambda n: progress(n, size) if progress else None, cancel)
    say(f"uploading {path.name} ({size / 1e6:.1f} MB) to {client.host}")
    query = urllib.parse.urlencode({"upload_name": upload_name})
    res = client.call("POST", f"/uploads?{query}", body,
                      {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)},
                      size=size)
    upload_id = res.get("upload_id") or (res.get("data") or {}).get("upload_id")
    if not upload_id:
        raise UploadError(f"NOMAD at {client.host} accepted the upload but sent no upload_id: {str(res)[:120]}")
    done = UploadDone(upload_id, gui_url(client.base, upload_id))
    if not (res.get("data") or {}).get("process_running"):
        client.call("POST", f"/uploads/{upload_id}/action/process")
    data = _wait(client, upload_id, say, cancel, poll_s, max_wait_s, done.url)
    done.message = data.get("last_status_message") or ""
    if data.get("process_status") == "FAILURE":
        errors = "; ".join(data.get("errors") or []) or done.message
        raise UploadError(f"NOMAD could not process upload {upload_id} ({errors}); see {done.url}")
    done.entries, done.failed = _failed_entries(client, upload_id)
    return done


def _wait(client: _Client, upload_id: str, say, cancel, poll_s: float, max_wait_s: float, url: str) -> dict:
    deadline = time.monotonic() + max_wait_s
    last = None
    while True:
        data = client.call("GET", f"/uploads/{upload_id}").get("data") or {}
        message = data.get("last_status_message")
        if message and message != last:
            say(f"NOMAD: {message}")
            last = message
        if not data.get("process_running") and data.get("process_status") in COMPLETED:
            return data
        if time.monotonic() > deadline:
            raise UploadError(f"upload {upload_id} is still processing after {max_wait_s / 60:.0f} min; "
                              f"follow it at {url}")
        if cancel is not None and cancel.wait(poll_s):
            raise UploadError(f"stopped waiting; NOMAD keeps processing upload {upload_id}: {url}")
        if cancel is None:
            time.sleep(poll_s)
