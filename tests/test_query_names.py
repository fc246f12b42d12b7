"""Every SQL name the code looks up exists in ``sql/queries/``, and every section there is used.

Named queries are found by strings (``queries.get("report", "pixels")``), which nothing checks
at import time: a typo fails only when that line runs. This test reads the product's source
(AST, no import) and resolves every look-up it can see:

* ``queries.get("file", "name")`` and ``queries.load("file")``;
* ``q = queries.named("file")`` and then ``q["name"]`` in the same function;
* wrappers: a function that passes one of its parameters as the name (``catalog.q(name)``,
  ``api.query.compose(name, ...)``, also through another wrapper) resolves at its call sites;
* an f-string name (``f"filter_{kind}"``) is a pattern: it must match at least one section, and
  every section it matches counts as used.

A look-up whose name is none of these (a variable, a call) fails the test: write the name
literally (or as an f-string) at the look-up, so that this test can see it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from perocube_desktop.db import queries

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "perocube_desktop"
SQL_QUERIES = ROOT / "sql" / "queries"
WHOLE_FILE = ""  # the section name of a file read whole (queries.load)


def sections() -> dict[str, set[str]]:
    """file -> its section names (a file without ``-- name:`` lines is one section, read whole)."""
    out = {}
    for path in sorted(SQL_QUERIES.glob("*.sql")):
        names = set(queries.named(path.stem))
        out[path.stem] = names or {WHOLE_FILE}
    return out


@dataclass
class Wrapper:
    file: str  # the queries file its name argument is looked up in
    index: int  # position of the name among the call's arguments
    param: str  # its keyword


@dataclass
class Scan:
    uses: list[tuple[str, str, str]] = field(default_factory=list)  # (file, name or pattern, where)
    unresolved: list[str] = field(default_factory=list)


def _is_queries_call(node: ast.AST, attr: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "queries")


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def _arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if index < len(call.args) else None


def _name_values(node: ast.expr) -> list[str] | None:
    """A name argument as exact names and patterns (``re:`` prefix); None when it cannot be read."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Constant) and node.value is None:
        return []
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else r"\w+" for v in node.values]
        return ["re:" + "".join(parts)]
    if isinstance(node, ast.IfExp):
        body, orelse = _name_values(node.body), _name_values(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(ROOT)), ast.parse(p.read_text(encoding="utf-8")))
            for p in sorted(PACKAGE.rglob("*.py")) if p != PACKAGE / "db" / "queries.py"]


Wrappers = dict[tuple[str, str], Wrapper]  # (module, function name) -> wrapper


def _wrapper(call: ast.Call, where: str, wrappers: Wrappers) -> Wrapper | None:
    """The wrapper a call reaches: a bare name in its own module first, else the one function of
    that name in any module (``catalog.q``, ``query.compose``, an imported name)."""
    name = _callee(call)
    if name is None or _is_queries_call(call, "get"):
        return None
    if isinstance(call.func, ast.Name) and (where, name) in wrappers:
        return wrappers[(where, name)]
    found = [w for (_, n), w in wrappers.items() if n == name]
    return found[0] if len(found) == 1 else None


def _lookup(call: ast.Call, where: str, wrappers: Wrappers) -> tuple[str, ast.expr] | None:
    """(file, name argument) when ``call`` looks a name up, directly or through a wrapper."""
    if _is_queries_call(call, "get") and len(call.args) == 2:
        file = call.args[0]
        if isinstance(file, ast.Constant) and isinstance(file.value, str):
            return file.value, call.args[1]
    w = _wrapper(call, where, wrappers)
    if w is not None:
        arg = _arg(call, w.index, w.param)
        if arg is not None:
            return w.file, arg
    return None


def find_wrappers(modules: list[tuple[str, ast.Module]]) -> Wrappers:
    """Functions that pass a parameter on as a query name, to a fixpoint (wrappers of wrappers)."""
    wrappers: Wrappers = {}
    changed = True
    while changed:
        changed = False
        for where, tree in modules:
            for fn in _functions(tree):
                params = _params(fn)
                for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
                    found = _lookup(call, where, wrappers)
                    if (found and isinstance(found[1], ast.Name) and found[1].id in params
                            and (where, fn.name) not in wrappers):
                        wrappers[(where, fn.name)] = Wrapper(found[0], params.index(found[1].id), found[1].id)
                        changed = True
    return wrappers


def _named_vars(fn: ast.AST) -> dict[str, tuple[str, ast.Call]]:
    """Variables bound to ``queries.named("file")`` in a function (plain or tuple assignment)."""
    out = {}
    for node in ast.walk(fn):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                     and isinstance(node.value, ast.Tuple) else [(target, node.value)])
            for t, v in pairs:
                if isinstance(t, ast.Name) and _is_queries_call(v, "named") and isinstance(v.args[0], ast.Constant):
                    out[t.id] = (v.args[0].value, v)
    return out


def scan() -> Scan:
    modules = _modules()
    wrappers = find_wrappers(modules)
    result = Scan()
    for where, tree in modules:
        _scan_calls(where, tree, wrappers, result)
        bound = set()
        for fn in _functions(tree):
            bound |= _scan_named(where, fn, result)
        for node in ast.walk(tree):
            if _is_queries_call(node, "named") and id(node) not in bound:
                result.unresolved.append(f"{where}:{node.lineno}: queries.named(...) not read as q[\"name\"]")
    return result


def _scan_calls(where: str, tree: ast.Module, wrappers: Wrappers, result: Scan) -> None:
    params_of: dict[int, set[str]] = {}  # a call -> the parameters of every function around it
    for fn in _functions(tree):
        for n in ast.walk(fn):
            params_of.setdefault(id(n), set()).update(_params(fn))
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        at = f"{where}:{call.lineno}"
        if _is_queries_call(call, "load"):
            result.uses.append((call.args[0].value, WHOLE_FILE, at))  # type: ignore[attr-defined]
            continue
        found = _lookup(call, where, wrappers)
        if found is None:
            continue
        file, arg = found
        values = _name_values(arg)
        if values is None:
            if isinstance(arg, ast.Name) and arg.id in params_of.get(id(call), set()):
                continue  # a wrapper passing its parameter on: resolved at its callers
            result.unresolved.append(f"{at}: {ast.unparse(arg)} (in {file}.sql)")
            continue
        result.uses.extend((file, v, at) for v in values)


def _scan_named(where: str, fn: ast.AST, result: Scan) -> set[int]:
    """``q["name"]`` reads of the function's ``queries.named`` variables; returns those calls' ids."""
    variables = _named_vars(fn)
    for node in ast.walk(fn):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in variables:
            file = variables[node.value.id][0]
            values = _name_values(node.slice)
            at = f"{where}:{node.lineno}"
            if values is None:
                result.unresolved.append(f"{at}: {node.value.id}[{ast.unparse(node.slice)}] (in {file}.sql)")
            else:
                result.uses.extend((file, v, at) for v in values)
    return {id(call) for _, call in variables.values()}


def _matches(value: str, names: set[str]) -> set[str]:
    if value.startswith("re:"):
        return {n for n in names if re.fullmatch(value[3:], n)}
    return {value} & names


def test_every_query_name_in_the_code_exists_and_every_section_is_used():
    known = sections()
    result = scan()
    assert len(result.uses) > 100, "the scan found the look-ups"  # today ~150: a broken scan finds none
    unknown: list[str] = []
    used: set[tuple[str, str]] = set()
    for file, value, at in result.uses:
        hit = _matches(value, known.get(file, set()))
        if not hit:
            unknown.append(f"{at}: {file}.sql has no query {value.removeprefix('re:')!r}")
        used |= {(file, n) for n in hit}
    unused = sorted(f"{f}.sql: {n or '(whole file)'}" for f, names in known.items() for n in names
                    if (f, n) not in used)
    assert not result.unresolved, "query names this test cannot read (write them literally):\n" + "\n".join(result.unresolved)
    assert not unknown, "unknown query names:\n" + "\n".join(unknown)
    assert not unused, "sections nothing in perocube_desktop/ uses (delete them):\n" + "\n".join(unused)


def test_the_scan_sees_a_typo_and_an_unused_section(tmp_path, monkeypatch):
    """The checker itself fails where it should: a wrong name in a look-up is reported as unknown."""
    code = ("from perocube_desktop.db import queries\n"
            "def f(conn):\n"
            "    q = queries.named('report')\n"
            "    conn.execute(q['pixelz'])\n"
            "    conn.execute(queries.get('api', 'healht'))\n")
    tree = ast.parse(code)
    result = Scan()
    _scan_calls("x.py", tree, {}, result)
    for fn in _functions(tree):
        _scan_named("x.py", fn, result)
    known = sections()
    assert {(f, v) for f, v, _ in result.uses} == {("report", "pixelz"), ("api", "healht")}
    assert all(not _matches(v, known[f]) for f, v, _ in result.uses)
