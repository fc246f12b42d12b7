"""Opening a database session the app's way: one place for what every connection needs to
work directly against the server and behind a connection pooler alike.

PgBouncer in transaction-pooling mode (docs/dba.md) hands each *transaction* to whichever
server connection is free. What a session would keep from one transaction to the next is
therefore not there: server-side prepared statements, ``SET`` (session settings), session
advisory locks, ``LISTEN``, temporary tables. The app relies on none of them across
transactions:

* prepared statements: off (``prepare_threshold=None``; psycopg otherwise prepares a query it
  ran five times, and the next transaction may run on a server that never saw it);
* settings: ``set_config(..., true)`` / ``SET LOCAL`` at the start of the transaction that needs them;
* advisory locks: transaction-level (``pg_advisory_xact_lock``), except the TimescaleDB import's
  compression hold, which is documented to need a session (docs/dba.md);
* temporary staging tables: created (``IF NOT EXISTS``) in the transaction that fills them,
  ``ON COMMIT DELETE ROWS`` or truncated first, so a server connection another client used is fine.
"""

from __future__ import annotations

from typing import Any

import psycopg

#: keyword arguments for psycopg_pool pools (same reason as ``connect``)
POOL_KWARGS: dict[str, Any] = {"prepare_threshold": None}


def connect(conninfo: str, **kwargs: Any) -> psycopg.Connection:
    kwargs.setdefault("connect_timeout", 5)
    kwargs.setdefault("application_name", "perocube-desktop")
    kwargs.setdefault("prepare_threshold", None)
    return psycopg.connect(conninfo, **kwargs)
