"""Small unit parsers shared by the configuration and the statistics (base layer, no imports)."""

from __future__ import annotations


def duration_hours(text: str) -> float:
    """'1h', '30min', '2 h', '1d' -> hours; a bare number is hours."""
    t = text.strip().lower().replace(" ", "")
    for suffix, factor in (("min", 1 / 60), ("h", 1.0), ("d", 24.0)):
        if t.endswith(suffix):
            return float(t[: -len(suffix)]) * factor
    return float(t)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 device', '2 devices' (``many`` for an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
