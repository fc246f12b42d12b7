"""Export and (optionally) upload as one background job: what the Reports page's "Export for NOMAD…"
runs in its worker. ``progress(done, total, text)`` reports both phases. No Qt."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import ReportSettings
from ..stats.report import Selection
from .nomad_upload import UploadDone, token, upload_and_process
from .nomad_zip import ExportResult, export_nomad


@dataclass
class NomadJobResult:
    export: ExportResult
    upload: UploadDone | None = None


def export_and_upload(conninfo: str, sel: Selection, settings: ReportSettings, out: Path, url: str | None = None,
                      progress: Callable[[int, int, str], None] | None = None,
                      cancel: threading.Event | None = None) -> NomadJobResult:
    """Write the zip; with ``url``, upload and process it (never published). Raises UploadError,
    UserError or ExportCancelled with one line for the user."""
    say = progress or (lambda _d, _t, _text: None)
    secret = token() if url else None  # refused before any work when there is none
    result = NomadJobResult(export_nomad(conninfo, sel, settings, out, cancel=cancel,
                                         progress=lambda i, n: say(i, n, f"exporting: {i}/{n}")))
    if url is None or secret is None:
        return result
    size = max(result.export.path.stat().st_size, 1)
    state = {"text": "uploading"}

    def status(text: str) -> None:
        state["text"] = text
        say(1, 1, text)

    result.upload = upload_and_process(url, result.export.path, secret, f"PeroCube {sel.describe()}", status=status,
                                       progress=lambda n, total: say(n, total or size, state["text"]), cancel=cancel)
    return result
