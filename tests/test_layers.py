"""The layer rule: core packages never import Qt (checked in a fresh interpreter)."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import perocube_desktop

CORE = [m.name for m in pkgutil.walk_packages(perocube_desktop.__path__, "perocube_desktop.")
        if not m.name.startswith(("perocube_desktop.ui", "perocube_desktop.app",
                                "perocube_desktop.__main__"))]


def test_core_imports_no_qt():
    assert "perocube_desktop.ingest.receiver" in CORE and "perocube_desktop.stats.report" in CORE
    code = ("import sys, importlib\n"
            f"for name in {CORE!r}:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'qasync', 'shiboken6'))\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_pyproject_lists_every_package():
    """setuptools' explicit package list must name every package, or a wheel (and the frozen
    bundle built from it) silently lacks one (an editable install would not show it)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "perocube_desktop").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


# A statement at the start of a string: SQL text that belongs in sql/queries/*.sql
_SQL_START = re.compile(r"^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s|CREATE\s|DROP\s|ALTER\s|"
                        r"TRUNCATE\s|COPY\s+\S+.*\s(FROM\s+STDIN|TO\s+STDOUT)|SET\s+(LOCAL\s+)?\w+\s*=|SHOW\s+\w+$|CALL\s)")


def _composed_literals(tree: ast.AST) -> set[int]:
    """ids of string constants passed to psycopg.sql.SQL(...): templates composed with identifiers."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "SQL":
            inside.update(id(n) for arg in node.args for n in ast.walk(arg))
    return inside


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def test_static_sql_lives_in_sql_queries():
    """One home for SQL: a static statement in Python is a query to name in sql/queries/*.sql;
    psycopg.sql.SQL(...) composition (identifiers only) is the one exception."""
    root = Path(perocube_desktop.__file__).resolve().parent
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _composed_literals(tree) | _docstrings(tree)
        found += [f"{rel}:{n.lineno}: {n.value.strip()[:60]!r}" for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
                  and _SQL_START.match(n.value)]
    assert found == [], "move these statements into sql/queries/*.sql (db/queries.get):\n" + "\n".join(found)


def test_the_check_finds_inline_sql():
    tree = ast.parse('def f(conn):\n    """SELECT in a docstring is prose."""\n'
                     '    conn.execute("SET LOCAL work_mem = \'1MB\'")\n'
                     '    conn.execute(sql.SQL("SELECT {} FROM t").format(x))\n')
    skip = _composed_literals(tree) | _docstrings(tree)
    hits = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in skip and _SQL_START.match(n.value)]
    assert hits == ["SET LOCAL work_mem = '1MB'"]


def test_one_declaration_per_kind_in_the_protocols_order():
    """db.tables declares each kind the protocol knows, once (no other kind list to keep in step)."""
    from perocube_desktop import protocol
    from perocube_desktop.db import tables

    assert tuple(tables.KINDS) == protocol.KINDS
    assert all(k.name == name for name, k in tables.KINDS.items())
