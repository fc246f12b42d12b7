"""Forward-only SQL migrations from ``sql/migrations/NNNN_name.sql``.

Each file runs in its own transaction and is recorded in ``perocube_schema_migrations``;
a second run is a no-op. The app refuses a database whose schema is newer than the
migrations it ships. A short runner instead of a library: the migrations need
server NOTICEs reported back (legacy clean-up counts), an advisory lock against two
app instances migrating at once (transaction-level, so that it works through a transaction-pooling
PgBouncer), and steps that must run outside a transaction with
TimescaleDB (continuous-aggregate refresh); see docs/decisions.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from ..errors import first_line
from ..paths import sql_dir
from . import catalog, queries, rollups
from .queries import scalar
from . import session as db_session

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x5045524F  # "PERO"


NOT_PRELOADED = ("TimescaleDB installed but not preloaded: add it to shared_preload_libraries and restart, "
                 "then run db migrate")
NOT_CREATED = ("TimescaleDB available but not enabled in this database, and this role may not create it: "
               "ask the DBA to run CREATE EXTENSION timescaledb in it (docs/dba.md), then run db migrate")


class SchemaError(RuntimeError):
    """The schema cannot be brought up to date; the message says which migration, why, and what to do."""


def _q(name: str) -> str:
    return queries.get("migrate", name)


class SchemaTooNewError(SchemaError):
    pass


class MigrationFailedError(SchemaError):
    pass


class ChecksumMismatchError(SchemaError):
    pass


# Earlier versions of migrations that were deliberately corrected after databases had applied
# them. A database that recorded one of these checksums is accepted (a later migration brings it
# up to date); any other changed checksum stops the runner. Add an entry only together with the
# migration that repairs such databases, and say why here.
SUPERSEDED_CHECKSUMS: dict[int, dict[str, str]] = {
    2: {"7e31f6d69126d052253ac601a7475deba998ac5e180e3dc8186584452ea01c2d":
        "first 0002: did not decompress compressed lab hypertables before adding the unique keys; "
        "a database that got past it has the keys, nothing to repair"},
    3: {"7bcf4b1654cb125cfd44e26a4161ee8d7348125586c091edca3c093240503cc4":
        "first 0003: parameter names differed from the lab's functions and the activity range took a "
        "DISCONNECTED as the later of two events at the same instant; 0006 re-creates the six functions"},
    4: {"1fea4663ddb54e6230dbd6c4d2daa90d877ce47d5f40a2c4d578915f52fd3d0c":
        "first 0004: created the extension without checking shared_preload_libraries (a not-preloaded server "
        "ended the session with FATAL, so no database got past it there); its refresh policies covered only "
        "the last hour / three days: 0007 replaces them (perocube_ensure_policies)"},
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        # line endings normalised: a checkout with CRLF (Windows) is the same migration
        return hashlib.sha256(self.path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


@dataclass
class MigrationResult:
    applied: list[int] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    version: int = 0
    problem: str | None = None  # why TimescaleDB is not used although the server has it


def available(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir() / "migrations"
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"{path}: migration files are named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


def _ensure_table(conn: psycopg.Connection) -> None:
    if scalar(conn, _q("has_migrations_table")):
        return
    conn.execute(_q("create_migrations_table"))


def current_version(conn: psycopg.Connection) -> int:
    exists = scalar(conn, _q("has_migrations_table"))
    if not exists:
        return 0
    return scalar(conn, _q("current_version"))


def check_not_newer(conn: psycopg.Connection) -> int:
    known = max((m.version for m in available()), default=0)
    version = current_version(conn)
    if version > known:
        raise SchemaTooNewError(
            f"the database schema is at version {version}, newer than this app knows ({known}); "
            "update Perocube Desktop before using this database"
        )
    return version


def check_checksums(conn: psycopg.Connection, migrations: list[Migration]) -> None:
    """Refuse a database whose applied migrations differ from the files we ship (edited after the
    fact), unless the recorded checksum is a documented superseded version (SUPERSEDED_CHECKSUMS)."""
    by_version = {m.version: m for m in migrations}
    for version, checksum in conn.execute(_q("applied_checksums")):
        mig = by_version.get(version)
        # recorded before line endings were normalised: the raw bytes of a CRLF checkout count too
        raw = hashlib.sha256(mig.path.read_bytes()).hexdigest() if mig else ""
        if mig is None or checksum in (mig.checksum, raw) or checksum in SUPERSEDED_CHECKSUMS.get(version, {}):
            continue
        raise ChecksumMismatchError(
            f"migration {mig.path.name} was applied to this database with a different content "
            f"(checksum {checksum[:12]}..., this app has {mig.checksum[:12]}...); refusing to continue. "
            "Use the Perocube Desktop version that created this database, or ask the maintainers how to "
            "repair it (docs/lab-compat.md: superseded migrations)"
        )


def migrate(conninfo: str, compress_after_days: int | None = None, directory: Path | None = None) -> MigrationResult:
    """Bring the database at ``conninfo`` to the newest schema (migrations from ``directory``,
    default: the packaged ``sql/migrations``). Raises SchemaError subclasses with a user message."""
    result = MigrationResult()
    with db_session.connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: result.notices.append(diag.message_primary or ""))
        # every step under a transaction-level advisory lock (pooler-safe: a session lock taken
        # through a transaction-pooling PgBouncer stays on whichever server session ran it)
        with conn.transaction():
            conn.execute(_q("lock"), (_LOCK_KEY,))
            _ensure_table(conn)
            check_not_newer(conn)
            migrations = available(directory)
            check_checksums(conn, migrations)
        for mig in migrations:
            if _apply(conn, mig):
                result.applied.append(mig.version)
        with conn.transaction():
            conn.execute(_q("lock"), (_LOCK_KEY,))
            converted = _maybe_enable_timescaledb(conn, result)
        if result.applied or converted:
            _refresh_after_migration(conn)
        if catalog.has_function(conn, "perocube_ensure_policies"):
            # refresh policies only now, after the initial refresh: they cannot race it
            conn.execute(_q("ensure_policies"))
        rollups.resume_compression_if_idle(conn)
        if compress_after_days is not None:
            conn.execute(_q("set_compression_age"), (compress_after_days,))
        result.version = current_version(conn)
    for notice in result.notices:
        log.info("migration: %s", notice)
    if result.problem:
        log.warning("%s", result.problem)
    return result


def _apply(conn: psycopg.Connection, mig: Migration) -> bool:
    """One migration in one transaction under the lock; False when it is applied already (by
    another instance that migrated meanwhile)."""
    try:
        with conn.transaction():
            conn.execute(_q("lock"), (_LOCK_KEY,))
            if scalar(conn, _q("is_applied"), (mig.version,)):
                return False
            log.info("applying migration %04d_%s", mig.version, mig.name)
            conn.execute(mig.sql)
            conn.execute(_q("record_migration"), (mig.version, mig.name, mig.checksum))
    except psycopg.Error as exc:
        raise MigrationFailedError(_failure_message(conn, mig, exc)) from exc
    return True


def _failure_message(conn: psycopg.Connection, mig: Migration, exc: psycopg.Error) -> str:
    diag = exc.diag
    why = (diag.message_primary or str(exc).splitlines()[0]).strip()
    if diag.message_detail:
        why += f" ({diag.message_detail.strip()})"
    if diag.message_hint:
        why += f"; hint: {diag.message_hint.strip()}"
    where = f"; at: {diag.context.strip().splitlines()[-1]}" if diag.context else ""
    try:
        version = str(current_version(conn))
    except psycopg.Error:
        version = "unknown"
    why = " ".join(f"{why}{where}".split())  # one line
    return (f"migration {mig.path.name} failed: {why}. It was rolled back: the database is as it was "
            f"before it (schema version {version}). Fix the cause in the database (or restore a backup), "
            "then run 'perocube-desktop db migrate' again")


def timescaledb_preloaded(conn: psycopg.Connection) -> bool:
    """Whether the server preloads TimescaleDB (CREATE EXTENSION would otherwise end the session
    with FATAL). A role that may not read shared_preload_libraries looks for the extension's
    background-worker launcher instead."""
    try:
        with conn.transaction():
            value = catalog.preload_setting(conn)
        return bool(re.search(r'(^|[\s,"])timescaledb([\s,"]|$)', value or ""))
    except psycopg.errors.InsufficientPrivilege:
        return catalog.timescaledb_launcher_running(conn)


def timescaledb_problem(conn: psycopg.Connection) -> str | None:
    """Why a server that has the TimescaleDB package does not use it here (None: nothing wrong)."""
    if not catalog.timescaledb_available(conn):
        return None
    if catalog.timescaledb_active(conn):
        return None
    if not timescaledb_preloaded(conn):
        return NOT_PRELOADED
    # preloaded but not created: only a problem once a migration tried (and this role could not)
    return NOT_CREATED if current_version(conn) >= 4 else None


def _maybe_enable_timescaledb(conn: psycopg.Connection, result: MigrationResult) -> bool:
    """A database migrated as plain PostgreSQL on a server that now preloads TimescaleDB is
    converted (hypertables keeping every row, continuous aggregates instead of rollup tables)."""
    result.problem = timescaledb_problem(conn)
    if result.problem is None or result.problem == NOT_PRELOADED or not catalog.has_function(conn, "perocube_enable_timescaledb"):
        return False
    try:
        with conn.transaction():
            converted = bool(scalar(conn, _q("enable_timescaledb")))
            if converted and catalog.has_function(conn, "perocube_timescaledb_tracks_inserts"):
                conn.execute(_q("timescaledb_tracks_inserts"))
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.FeatureNotSupported) as exc:
        log.info("TimescaleDB not enabled: %s", first_line(exc))
        return False
    result.problem = None
    return converted


def _refresh_after_migration(conn: psycopg.Connection) -> None:
    """Fill the rollups of data that was already there (outside a transaction: TimescaleDB's
    refresh refuses to run inside one), waiting out a policy job that refreshes concurrently."""
    rollups.refresh_all(conn)


@dataclass
class SchemaStatus:
    version: int
    known_version: int
    timescaledb_available: bool
    timescaledb_active: bool
    timescaledb_version: str | None
    server_version: str
    applied: list[tuple[int, str, str]]
    timescaledb_problem: str | None = None  # e.g. NOT_PRELOADED


def status(conninfo: str) -> SchemaStatus:
    with db_session.connect(conninfo, autocommit=True) as conn:
        version = current_version(conn)
        applied = []
        if version:
            applied = [
                (v, n, a.isoformat(timespec="seconds"))
                for v, n, a in conn.execute(_q("applied_list"))
            ]
        available_ts = catalog.timescaledb_available(conn)
        ts_version = catalog.timescaledb_version(conn)
        return SchemaStatus(
            version=version,
            known_version=max((m.version for m in available()), default=0),
            timescaledb_available=available_ts,
            timescaledb_active=ts_version is not None,
            timescaledb_version=ts_version,
            server_version=catalog.server_version(conn),
            applied=applied,
            timescaledb_problem=timescaledb_problem(conn),
        )
