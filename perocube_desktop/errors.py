"""How an exception is said in one line (status bar, log line, ``error:`` message, API reply):
its message's first line, or its type when it has none. The one home for that, in the base layer
so that every layer can use it."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
