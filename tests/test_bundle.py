"""The frozen one-folder bundle, end to end (packaging/test_bundle.sh): build, then run it from a
path with spaces in a clean environment as root and as a normal user.

Heavy (5-15 min on two cores), so the normal suite skips it:

    PEROCUBE_TEST_BUNDLE=1 python -m pytest -q tests/test_bundle.py     # or: bash packaging/test_bundle.sh
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(os.environ.get("PEROCUBE_TEST_BUNDLE") != "1", reason="bundle test: set PEROCUBE_TEST_BUNDLE=1"),
    pytest.mark.skipif(sys.platform != "linux" or not hasattr(os, "geteuid") or os.geteuid() != 0,
                       reason="the bundle test runs on Linux as root (it switches to a normal user)"),
    pytest.mark.timeout(3600),
]


def test_bundle_end_to_end():
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(["bash", str(REPO / "packaging" / "test_bundle.sh")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3600)
    print(done.stdout[-20000:])
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert " 0 failed" in done.stdout
