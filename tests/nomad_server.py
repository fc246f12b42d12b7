"""A local NOMAD API (v1) on loopback for the upload client's tests: the four routes the client uses,
with NOMAD 1.4's status codes and JSON shapes (``nomad/app/v1/routers/uploads.py``):

* ``POST /api/v1/uploads?upload_name=`` (multipart ``file``): 401 ``{"detail": ...}`` without a valid
  bearer token; ``{"upload_id", "data": UploadProcData}``; NOMAD starts processing a file upload
  itself (``autoprocess``), the reply then says ``process_running: true``.
* ``POST /api/v1/uploads/{id}/action/process``: 400 while a process runs, 404 for an unknown id.
* ``GET /api/v1/uploads/{id}``: ``{"upload_id", "data": UploadProcData}``; each GET advances the
  processing one step (PENDING -> RUNNING -> SUCCESS or FAILURE).
* ``GET /api/v1/uploads/{id}/entries``: ``pagination``, ``processing_successful``, ``processing_failed``,
  ``data``: EntryProcData (``mainfile``, ``process_status``, ``errors``).

Faults for the tests: ``max_bytes`` (413 from the proxy in front, as nginx answers), ``drop_after``
(the server closes the connection after reading that many body bytes), ``fail_upload`` (the upload's
processing fails), ``fail_entries`` (entries whose path contains the text fail).
"""

from __future__ import annotations

import io
import json
import threading
import uuid
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/v1"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class FakeNomad:
    def __init__(self, token: str = "secret-token", autoprocess: bool = True, max_bytes: int | None = None,
                 drop_after: int | None = None, fail_upload: str | None = None, fail_entries: str | None = None):
        self.token, self.autoprocess, self.max_bytes, self.drop_after = token, autoprocess, max_bytes, drop_after
        self.fail_upload, self.fail_entries = fail_upload, fail_entries
        self.uploads: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-nomad", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX}"

    def __enter__(self) -> FakeNomad:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # --- the upload's state, as NOMAD's Upload document -----------------------------------------------

    def proc_data(self, up: dict) -> dict:
        return {"upload_id": up["upload_id"], "upload_name": up["upload_name"], "upload_create_time": up["created"],
                "main_author": "test-user", "published": False, "with_embargo": False, "embargo_length": 0,
                "license": "CC BY 4.0", "entries": len(up["entries"]) if up["status"] in ("SUCCESS", "FAILURE") else 0,
                "process_running": up["status"] in ("PENDING", "RUNNING", "WAITING_FOR_RESULT"),
                "current_process": up["process"], "process_status": up["status"], "last_status_message": up["message"],
                "errors": up["errors"], "warnings": [], "complete_time": up.get("complete")}

    def _start(self, up: dict) -> None:
        up.update(status="PENDING", process="process_upload", message="Waiting for results (level 0)", steps=0)

    def _advance(self, up: dict) -> None:
        if up["status"] not in ("PENDING", "RUNNING"):
            return
        up["steps"] += 1
        if up["steps"] == 1:
            up.update(status="RUNNING", message="Parsing and normalizing")
            return
        if self.fail_upload:
            up.update(status="FAILURE", message="Process process_upload failed: " + self.fail_upload,
                      errors=[self.fail_upload], complete=_now())
            return
        for e in up["entries"]:
            if self.fail_entries and self.fail_entries in e["mainfile"]:
                e.update(process_status="FAILURE", errors=["normalizer PerovskiteSolarCell: 'NoneType' object has "
                                                           "no attribute 'stack_sequence'"])
        up.update(status="SUCCESS", message="Process process_upload completed successfully", complete=_now())

    def _create(self, name: str | None, data: bytes) -> dict:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            mains = sorted(n for n in zf.namelist() if n.endswith(".archive.json"))
        up = {"upload_id": uuid.uuid4().hex[:22], "upload_name": name, "created": _now(), "status": "READY",
              "process": None, "message": None, "errors": [], "steps": 0,
              "entries": [{"entry_id": uuid.uuid4().hex[:28], "mainfile": m, "process_status": "SUCCESS", "errors": []}
                          for m in mains]}
        if self.autoprocess:
            self._start(up)
        return up

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, code: int, body: dict | str, content_type: str = "application/json") -> None:
                raw = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {fake.token}":
                    return True
                self._send(401, {"detail": "Could not validate credentials. The given token is invalid."})
                return False

            def _upload(self, upload_id: str) -> dict | None:
                up = fake.uploads.get(upload_id)
                if up is None:
                    self._send(404, {"detail": "The specified upload_id was not found."})
                return up

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                fake.requests.append(("POST", parts.path))
                length = int(self.headers.get("Content-Length") or 0)
                if parts.path == f"{PREFIX}/uploads":
                    self._post_upload(parts, length)
                    return
                self.rfile.read(length)
                if not self._authorized():
                    return
                segs = parts.path[len(PREFIX):].strip("/").split("/")
                if len(segs) == 4 and segs[0] == "uploads" and segs[2:] == ["action", "process"]:
                    with fake.lock:
                        up = self._upload(segs[1])
                        if up is None:
                            return
                        if up["status"] in ("PENDING", "RUNNING"):
                            self._send(400, {"detail": "The upload is currently being processed, operation not "
                                                       "allowed."})
                            return
                        fake._start(up)
                        self._send(200, {"upload_id": up["upload_id"], "data": fake.proc_data(up)})
                    return
                self._send(404, {"detail": "Not Found"})

            def _post_upload(self, parts, length: int) -> None:
                if fake.drop_after is not None:  # the server goes away mid-upload
                    self.rfile.read(min(fake.drop_after, length))
                    self.connection.shutdown(2)
                    self.connection.close()
                    self.close_connection = True
                    return
                if fake.max_bytes is not None and length > fake.max_bytes:
                    # what nginx answers in front of NOMAD: 413 at once, then a lingering close that reads
                    # (and drops) the rest of the body so that the client gets to read the answer
                    self.close_connection = True
                    self._send(413, "<html><head><title>413 Request Entity Too Large</title></head></html>",
                               "text/html")
                    while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):
                        length -= len(chunk)
                    return
                body = self.rfile.read(length)
                if not self._authorized():
                    return
                data = _file_part(body, self.headers.get("Content-Type", ""))
                name = parse_qs(parts.query).get("upload_name", [None])[0]
                with fake.lock:
                    up = fake._create(name, data)
                    fake.uploads[up["upload_id"]] = up
                    self._send(200, {"upload_id": up["upload_id"], "data": fake.proc_data(up)})

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                fake.requests.append(("GET", parts.path))
                if not self._authorized():
                    return
                segs = parts.path[len(PREFIX):].strip("/").split("/")
                with fake.lock:
                    up = self._upload(segs[1]) if len(segs) >= 2 and segs[0] == "uploads" else None
                    if up is None:
                        return
                    if len(segs) == 2:
                        fake._advance(up)
                        self._send(200, {"upload_id": up["upload_id"], "data": fake.proc_data(up)})
                    elif segs[2:] == ["entries"]:
                        self._send(200, fake.entries_page(up, parse_qs(parts.query)))
                    else:
                        self._send(404, {"detail": "Not Found"})

        return Handler

    def entries_page(self, up: dict, query: dict) -> dict:
        size = int(query.get("page_size", ["10"])[0])
        page = int(query.get("page", ["1"])[0])
        rows = up["entries"][(page - 1) * size: page * size]
        failed = sum(1 for e in up["entries"] if e["process_status"] == "FAILURE")
        data = [{"entry_id": e["entry_id"], "entry_create_time": up["created"], "mainfile": e["mainfile"],
                 "upload_id": up["upload_id"], "parser_name": "parsers/archive", "process_running": False,
                 "current_process": "process_entry", "process_status": e["process_status"], "errors": e["errors"],
                 "warnings": [], "last_status_message": "Process process_entry completed"} for e in rows]
        return {"pagination": {"page_size": size, "order_by": "mainfile", "order": "asc", "page": page,
                               "total": len(up["entries"])},
                "processing_successful": len(up["entries"]) - failed, "processing_failed": failed,
                "upload": self.proc_data(up), "data": data}


def _file_part(body: bytes, content_type: str) -> bytes:
    """The ``file`` field of a multipart/form-data body."""
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, rest = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return rest[:-2] if rest.endswith(b"\r\n") else rest
    raise ValueError("no file part")
