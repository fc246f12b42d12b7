"""Size limits of every module of perocube_desktop, the core and the GUI layer (ui/, app.py) alike:
modules <= 400 lines, functions <= 60 lines.

A unit over the limit needs a written reason in ALLOWED below; anything else fails `.ci/lint`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MODULE_LINES = 400
FUNCTION_LINES = 60

# "path" or "path:function": reason
ALLOWED: dict[str, str] = {
    "perocube_desktop/cli.py": "the argparse tables of every command and the small db/receive/simulate/config "
                               "commands; the larger commands live in their packages (importer/cli, stats/cli, api/cli)",
    "perocube_desktop/cli.py:build_parser": "a declarative argparse table: one line per option, nothing to factor",
    "perocube_desktop/protocol.py:_mpp_rows": "the batched MPP hot path, one loop by design (docs/decisions.md: "
                                              "per-row Python is the ingest rate); the rules live in _sample",
    "perocube_desktop/framing.py:_frames": "the framer's state machine in one loop; splitting it costs a call per "
                                          "object on the hot path",
}


def main() -> int:
    root = Path(__file__).resolve().parents[1] / "perocube_desktop"
    problems = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        text = path.read_text(encoding="utf-8")
        n = len(text.splitlines())
        if n > MODULE_LINES and rel not in ALLOWED:
            problems.append(f"{rel}: {n} lines (limit {MODULE_LINES}): split it along its seams or give a reason in .ci/sizes.py")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                key = f"{rel}:{node.name}"
                if length > FUNCTION_LINES and key not in ALLOWED:
                    problems.append(f"{key} (line {node.lineno}): {length} lines (limit {FUNCTION_LINES})")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
