"""Why a report selection holds no pixel, in one line that names what was asked and the close names
that exist (``difflib``), so an operator can fix a typo without opening the registry. No Qt."""

from __future__ import annotations

import difflib

from ..db import queries
from ..units import plural


def _close(name: str, names: list[str], what: str) -> str:
    by_lower = {n.lower(): n for n in names}
    close = [by_lower[n] for n in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]
    if close:
        return f" (did you mean {' or '.join(close)}?)"
    if names:
        return f" (the registry has {plural(len(names), what)}: see the Registry page)"
    return f" (the registry has no {what}s yet: import the logbook or add them on the Registry page)"


def _natural(text: str) -> list:
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def why_empty(conn, sel) -> str:
    """Why ``sel`` (a report ``Selection``) selects no pixel: one line without a final full stop."""
    q = queries.named("report")
    if sel.device:
        pixels = conn.execute(q["pixels"]).fetchall()
        names = sorted({d for d, _ in pixels} | {r[0] for r in conn.execute(q["device_names"])})
        if sel.device not in names:
            return f"no device named {sel.device!r}{_close(sel.device, names, 'device')}"
        has = sorted((p for d, p in pixels if d == sel.device), key=_natural)
        if sel.pixel:
            return (f"device {sel.device} has no pixel {sel.pixel!r}"
                    + (f" (its pixels: {', '.join(has)})" if has else " (and no pixel was ever connected)"))
        return f"device {sel.device} has no pixel that was ever connected to a channel (see Registry -> Wiring)"
    if sel.board is not None:
        return f"no pixel was ever connected to board {sel.board} (see Registry -> Wiring)"
    for given, kind in ((sel.experiment, "experiment"), (sel.project, "project")):
        if given:
            names = [r[0] for r in conn.execute(q[f"{kind}_names"])]
            if given not in names:
                return f"no {kind} named {given!r}{_close(given, names, kind)}"
            return f"{kind} {given} has no device with a connected pixel (see the Registry page)"
    return "no pixel was ever connected to a channel: import the logbook or wire pixels on the Registry page"
