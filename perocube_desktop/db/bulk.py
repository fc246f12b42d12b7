"""Bulk loading helpers shared by the importer and the live writer."""

from __future__ import annotations

import psycopg

from . import catalog
from .queries import scalar


def may_skip_fk_triggers(conn: psycopg.Connection, timescaledb: bool = False) -> bool:
    """Whether per-chunk ``session_replication_role = replica`` is allowed and safe here.

    Foreign-key checks run as one trigger per row and cost two thirds of COPY time. Both
    loaders register every channel and sensor in the same transaction before loading its
    rows, so the checks are redundant; we skip them where we may (plain PostgreSQL, rights to
    set the role, as pg_restore does). With TimescaleDB only when asked (``timescaledb``: the
    importer, which also locks each channel once per chunk as the per-row check would) and only
    while no trigger other than the foreign-key checks would be silenced with them (TimescaleDB
    2.28 fires none of its own on insert; older versions had an insert blocker).
    """
    try:
        with conn.transaction():
            if catalog.timescaledb_active(conn) and (
                    not timescaledb or scalar(conn, catalog.q("insert_triggers_silenced_by_replica"))):
                return False
            conn.execute(catalog.q("local_skip_fk_triggers"))
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def skip_fk_triggers(conn: psycopg.Connection) -> None:
    """For the current transaction only (see ``may_skip_fk_triggers``)."""
    conn.execute(catalog.q("local_skip_fk_triggers"))
