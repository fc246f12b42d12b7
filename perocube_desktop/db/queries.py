"""Named queries from ``sql/queries/*.sql``.

A file holds one query, or several separated by ``-- name: NAME`` lines. Queries are
parameterised (``%(name)s`` / ``%s``); nothing is ever formatted into them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Params
from psycopg.rows import namedtuple_row

from ..paths import sql_dir

Query = str | sql.SQL | sql.Composed  # what Connection.execute takes

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@functools.cache
def load(name: str) -> str:
    return (sql_dir() / "queries" / f"{name}.sql").read_text(encoding="utf-8")


@functools.cache
def named(file: str) -> dict[str, str]:
    text = load(file)
    parts = _NAME_LINE.split(text)
    queries = {}
    for i in range(1, len(parts), 2):
        queries[parts[i]] = parts[i + 1].strip()
    return queries


def get(file: str, name: str) -> str:
    return named(file)[name]


def one(conn: psycopg.Connection, query: Query, params: Params | None = None) -> Any:
    """The row of a statement that always returns exactly one (an aggregate, ``SELECT EXISTS …``,
    ``INSERT … RETURNING``, a function call); a missing row is a bug, said as such (never an
    ``assert``, which ``python -O`` removes)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"no row from a query that always returns one: {str(query)[:80]!r}")
    return row


def scalar(conn: psycopg.Connection, query: Query, params: Params | None = None) -> Any:
    """The first column of ``one``'s row."""
    return one(conn, query, params)[0]


def named_rows(conn: psycopg.Connection, query: Query, params: Params | None = None) -> list[Any]:
    """Every row as a named tuple whose fields are the query's column names (the SQL names each
    column, ``AS`` where it computes one): read by name, never by position."""
    with conn.cursor(row_factory=namedtuple_row) as cur:
        return cur.execute(query, params).fetchall()


def named_row(conn: psycopg.Connection, query: Query, params: Params | None = None) -> Any:
    """The first row as a named tuple (see ``named_rows``), or None when there is none."""
    with conn.cursor(row_factory=namedtuple_row) as cur:
        return cur.execute(query, params).fetchone()
