"""Read replicas and multi-host URLs: which server a session landed on, whether it is a standby,
and how far its replay lags behind the primary (status bar, ``/health``, ``db status``).

A read replica (``database.read_url``) serves the reading parts only: viewer mode, the read API
and reports. Nothing writes there: no migration, no rollup refresh, no registry change (a hot
standby would refuse them anyway). Rollup reads fall back to raw rows where marks are pending,
as on the primary: the marks replicate with the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from . import catalog


@dataclass(frozen=True)
class ServerState:
    address: str  # host:port this session is connected to
    standby: bool  # in recovery (a hot standby)
    lag_s: float | None  # replay lag in seconds (0 on a primary; None: never replayed anything)
    streaming: bool  # a standby that receives WAL from its primary right now

    def text(self) -> str:
        """``primary 10.0.0.5:5432`` / ``standby 10.0.0.6:5432, lag 0.4 s`` (the status bar's words)."""
        if not self.standby:
            return f"primary {self.address}"
        lag = "lag unknown" if self.lag_s is None else f"lag {self.lag_s:.1f} s"
        return f"standby {self.address}, {lag}" + ("" if self.streaming else ", not streaming")


def multi_host(conninfo: str) -> bool:
    """A URL naming several servers (``host=a,b``): which one answered is worth showing."""
    return "," in str(conninfo_to_dict(conninfo).get("host") or "")


def address(conn: psycopg.Connection) -> str:
    """``host:port`` of the database server this session runs on: the server's own TCP address
    (so that behind PgBouncer a failover the pooler followed shows too), else the one connected
    to (a Unix socket; one of several hosts of a multi-host URL)."""
    row = conn.execute(catalog.q("server_address")).fetchone()
    if row and row[0] is not None:
        return f"{row[0]}:{row[1]}"
    return f"{conn.info.host}:{conn.info.port}"


def state(conn: psycopg.Connection) -> ServerState:
    row = conn.execute(catalog.q("replication_state")).fetchone()
    standby, lag, streaming = row if row else (False, None, False)
    return ServerState(address(conn), bool(standby), None if lag is None else max(float(lag), 0.0), bool(streaming))
