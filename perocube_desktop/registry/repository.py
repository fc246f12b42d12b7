"""Registry rows: validation, parameterised CRUD with optimistic locking and an audit log. No Qt.

Table and column names come from the declarations in ``schema.py`` (composed with
``psycopg.sql.Identifier``); values are always parameters.
"""

from __future__ import annotations

import builtins

import getpass
import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from ..db import queries
from .schema import ENTITIES, Entity, Field


class ValidationError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class ConflictError(RuntimeError):
    """Someone else saved (or deleted) the row since it was opened."""

    def __init__(self, message: str, changes: dict[str, tuple[Any, Any]]) -> None:
        super().__init__(message)
        self.changes = changes


class ReferencedError(RuntimeError):
    pass


def actor() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USERNAME") or os.environ.get("USER") or "unknown"
    return user, socket.gethostname()


def coerce(entity: Entity, raw: dict[str, Any]) -> dict[str, Any]:
    """Form text -> typed values, checking required fields, ranges, UUIDs and date order."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in entity.fields:
        v = raw.get(f.name)
        if isinstance(v, str):
            v = v.strip()
        if v in ("", None):
            if f.auto_uuid:
                values[f.name] = None
            elif f.required:
                errors[f.name] = "required"
            else:
                values[f.name] = None
            continue
        try:
            values[f.name] = _typed(f, v)
        except ValueError as exc:
            errors[f.name] = str(exc)
            continue
        msg = _range(f, values[f.name])
        if msg:
            errors[f.name] = msg
    for early, late in entity.date_order:
        a, b = values.get(early), values.get(late)
        if a and b and b < a:
            errors[late] = f"must not be before {entity.field(early).label.lower()}"
    if errors:
        raise ValidationError(errors)
    return values


def _typed(f: Field, v: Any) -> Any:
    if f.type == "int":
        if isinstance(v, int):
            return v
        try:
            return int(str(v))
        except ValueError:
            raise ValueError("must be a whole number") from None
    if f.type == "float":
        try:
            return float(str(v).replace(",", "."))
        except ValueError:
            raise ValueError("must be a number") from None
    if f.type == "date":
        if isinstance(v, date):
            return v
        try:
            return date.fromisoformat(str(v))
        except ValueError:
            raise ValueError("must be a date YYYY-MM-DD") from None
    if f.type == "uuid" or (f.type == "ref" and f.ref in ("scientist", "project", "experiment")):
        try:
            return uuid.UUID(str(v))
        except ValueError:
            raise ValueError("must be a UUID like 12345678-1234-5678-1234-567812345678") from None
    return str(v)


def _range(f: Field, v: Any) -> str | None:
    if f.type not in ("int", "float"):
        return None
    if f.min is not None and (v <= f.min if f.min_exclusive else v < f.min):
        return f"must be {'greater than' if f.min_exclusive else 'at least'} {f.min:g}"
    if f.max is not None and v > f.max:
        return f"must be at most {f.max:g}"
    return None


def jsonable(d: dict) -> str:
    """A dict as JSON for the audit log (UUIDs, dates and other values as text)."""
    return json.dumps({k: (str(v) if v is not None and not isinstance(v, (int, float, str, bool)) else v)
                       for k, v in d.items()})


@dataclass
class Reference:
    table: str
    count: str


class RegistryRepository:
    def __init__(self, pool) -> None:
        self.pool = pool
        self.user, self.host = actor()

    # reading -----------------------------------------------------------------
    def list(self, name: str, search: str = "") -> list[dict]:
        entity = ENTITIES[name]
        cols = sql.SQL(", ").join(map(sql.Identifier, entity.columns))
        order = sql.SQL(", ").join(map(sql.Identifier, entity.order_by or entity.key_fields))
        text_cols = [c for c in entity.columns]
        where: sql.Composable = sql.SQL("TRUE")
        params: list = []
        if search:
            where = sql.SQL(" OR ").join(sql.SQL("{}::text ILIKE %s").format(sql.Identifier(c)) for c in text_cols)
            params = [f"%{search}%"] * len(text_cols)
        query = sql.SQL("SELECT {}, row_version FROM {} WHERE {} ORDER BY {}").format(
            cols, sql.Identifier(entity.table), where, order)
        with self.pool.connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(query, params).fetchall()
            for lk_field, lk_table, mine, other in entity.links:
                links = dict(conn.execute(sql.SQL("SELECT DISTINCT ON ({m}) {m}, {o} FROM {t} ORDER BY {m}, {o}").format(
                    m=sql.Identifier(mine), o=sql.Identifier(other), t=sql.Identifier(lk_table))).fetchall())
                for r in rows:
                    r[lk_field] = links.get(r[entity.key_fields[0]])
        return rows

    def options(self, name: str) -> builtins.list[tuple[Any, str]]:
        """(key value, display text) for reference pickers."""
        entity = ENTITIES[name]
        key = entity.key_fields[0] if name != "pixel" else "pixel"
        with self.pool.connection() as conn:
            return [(k, d) for k, d in conn.execute(sql.SQL("SELECT {}, {}::text FROM {} ORDER BY 2").format(
                sql.Identifier(key), sql.Identifier(entity.display), sql.Identifier(entity.table))).fetchall()]

    def _get(self, conn, entity: Entity, key: dict) -> dict | None:
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in entity.key_fields)
        row = conn.cursor(row_factory=dict_row).execute(
            sql.SQL("SELECT {}, row_version FROM {} WHERE {}").format(
                sql.SQL(", ").join(map(sql.Identifier, entity.columns)), sql.Identifier(entity.table), where),
            [key[k] for k in entity.key_fields]).fetchone()
        if row is not None:
            for lk_field, lk_table, mine, other in entity.links:
                r = conn.execute(sql.SQL("SELECT {} FROM {} WHERE {} = %s LIMIT 1").format(
                    sql.Identifier(other), sql.Identifier(lk_table), sql.Identifier(mine)), (row[mine],)).fetchone()
                row[lk_field] = r[0] if r else None
        return row

    # writing -----------------------------------------------------------------
    def save(self, name: str, raw: dict[str, Any], original: dict | None = None) -> dict:
        """Insert (original None) or update; returns the saved row. Raises ValidationError,
        ConflictError; the database is unchanged on any error."""
        with self.pool.connection() as conn, conn.transaction():
            return self._save(conn, name, raw, original)

    def save_device_with_pixels(self, raw: dict[str, Any], pixels: builtins.list[str], area: str) -> dict:
        """The quick new-device flow: the device and all its pixels in one transaction."""
        if not pixels:
            raise ValidationError({"pixel": "give at least one pixel name"})
        if len(set(pixels)) != len(pixels):
            raise ValidationError({"pixel": "pixel names repeat"})
        with self.pool.connection() as conn, conn.transaction():
            device = self._save(conn, "device", raw, None)
            for p in pixels:
                self._save(conn, "pixel", {"solar_cell_id": device["name"], "pixel": p, "active_area": area}, None)
        return device

    def _save(self, conn, name: str, raw: dict[str, Any], original: dict | None) -> dict:
        entity = ENTITIES[name]
        values = coerce(entity, raw)
        for f in entity.fields:
            if f.auto_uuid and values.get(f.name) is None:
                values[f.name] = original[f.name] if original else uuid.uuid4()
        self._check_unique(conn, entity, values, original)
        if original is None:
            self._insert(conn, entity, values)
            action = "insert"
        else:
            self._update(conn, entity, values, original)
            action = "update"
        self._links(conn, entity, values)
        key = {k: values[k] for k in entity.key_fields}
        saved = self._get(conn, entity, key)
        assert saved is not None, "the row was written in this transaction"
        self._audit(conn, entity, action, key, original, saved)
        return saved

    def _check_unique(self, conn, entity: Entity, values: dict, original: dict | None) -> None:
        errors = {}
        checks = [(f.name,) for f in entity.fields if f.unique] + ([entity.key_fields] if original is None else [])
        for cols in checks:
            if any(values.get(c) is None for c in cols):
                continue
            where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols)
            params = [values[c] for c in cols]
            if original is not None:
                where = sql.SQL("{} AND NOT ({})").format(where, sql.SQL(" AND ").join(
                    sql.SQL("{} = %s").format(sql.Identifier(k)) for k in entity.key_fields))
                params += [original[k] for k in entity.key_fields]
            if conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {})").format(
                    sql.Identifier(entity.table), where), params).fetchone()[0]:
                errors[cols[-1]] = "already exists"
        if entity.name == "irradiance_sensor" and original is None and conn.execute(queries.get("registry", "irradiance_sensor_exists"),
                (values["sensor_identifier"], values["channel"])).fetchone()[0]:
            errors["channel"] = "this sensor and channel already exist"
        if errors:
            raise ValidationError(errors)

    def _insert(self, conn, entity: Entity, values: dict) -> None:
        cols = entity.columns
        conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(entity.table), sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols))), [values[c] for c in cols])

    def _update(self, conn, entity: Entity, values: dict, original: dict) -> None:
        cols = [c for c in entity.columns if c not in entity.key_fields]
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols)
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in entity.key_fields)
        cur = conn.execute(sql.SQL("UPDATE {} SET {}, row_version = row_version + 1 WHERE {} AND row_version = %s").format(
            sql.Identifier(entity.table), sets, where),
            [values[c] for c in cols] + [original[k] for k in entity.key_fields] + [original["row_version"]])
        if cur.rowcount == 1:
            return
        current = self._get(conn, entity, {k: original[k] for k in entity.key_fields})
        if current is None:
            raise ConflictError("this row was deleted by someone else since you opened it", {})
        changes = {c: (original.get(c), current.get(c)) for c in entity.columns if original.get(c) != current.get(c)}
        names = ", ".join(f"{entity.field(c).label}: {a!r} → {b!r}" for c, (a, b) in changes.items()) or "nothing visible"
        raise ConflictError(f"someone else saved this row since you opened it ({names}); reopen it and "
                            "apply your change again", changes)

    def _links(self, conn, entity: Entity, values: dict) -> None:
        for lk_field, lk_table, mine, other in entity.links:
            conn.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(sql.Identifier(lk_table), sql.Identifier(mine)),
                         (values[mine],))
            if values.get(lk_field) is not None:
                conn.execute(sql.SQL("INSERT INTO {} ({}, {}) VALUES (%s, %s)").format(
                    sql.Identifier(lk_table), sql.Identifier(mine), sql.Identifier(other)),
                    (values[mine], values[lk_field]))

    def references(self, conn, entity: Entity, key: dict) -> builtins.list[Reference]:
        """Rows elsewhere that point at this one (foreign keys read from the catalogue)."""
        fks = conn.execute(queries.get("registry", "foreign_keys_to"), (entity.table,)).fetchall()
        refs = []
        for table, cols, fcols in fks:
            if not all(fc in key for fc in fcols):
                continue
            where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols)
            n = conn.execute(sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT 100001) s").format(
                sql.Identifier(table), where), [key[fc] for fc in fcols]).fetchone()[0]
            if n:
                refs.append(Reference(table, "100,000+" if n > 100000 else f"{n:,}"))
        return refs

    def delete(self, name: str, original: dict) -> None:
        entity = ENTITIES[name]
        key = {k: original[k] for k in entity.key_fields}
        with self.pool.connection() as conn, conn.transaction():
            for _field, lk_table, mine, _other in entity.links:
                conn.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(sql.Identifier(lk_table), sql.Identifier(mine)),
                             (original[mine],))
            refs = self.references(conn, entity, {**key, **{c: original.get(c) for c in entity.columns}})
            if refs:
                raise ReferencedError("cannot delete: still referred to by " +
                                      ", ".join(f"{r.count} rows in {r.table}" for r in refs))
            where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in entity.key_fields)
            cur = conn.execute(sql.SQL("DELETE FROM {} WHERE {} AND row_version = %s").format(
                sql.Identifier(entity.table), where), [key[k] for k in entity.key_fields] + [original["row_version"]])
            if cur.rowcount != 1:
                raise ConflictError("someone else changed or deleted this row since you opened it; reopen it", {})
            self._audit(conn, entity, "delete", key, original, None)

    def _audit(self, conn, entity: Entity, action: str, key: dict, old: dict | None, new: dict | None) -> None:
        conn.execute(queries.get("registry", "audit_insert"),
                     (self.user, self.host, entity.table, action, jsonable(key),
                      jsonable(old) if old else None, jsonable(new) if new else None))

    def audit(self, limit: int = 500) -> builtins.list[tuple]:
        with self.pool.connection() as conn:
            return conn.execute(queries.get("registry", "audit_recent"), (limit,)).fetchall()
