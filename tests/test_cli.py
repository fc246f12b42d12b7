"""The command line as a user runs it: real processes, real database."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest


def run(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "perocube_desktop", *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


@pytest.mark.parametrize("cmd", [[], ["receive"], ["simulate"], ["import"], ["report"], ["db"], ["db", "backup"],
                                 ["config"]])
def test_help(cmd):
    out = run(*cmd, "--help")
    assert out.returncode == 0 and "usage: perocube-desktop" in out.stdout


def test_db_commands_and_backup_restore(db_url, tmp_path):
    out = run("db", "status", "--db", db_url)
    assert out.returncode == 0 and "plain PostgreSQL" in out.stdout and "schema:      version" in out.stdout
    out = run("db", "migrate", "--db", db_url)
    assert out.returncode == 0 and "already current" in out.stdout
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO scientist (scientist_id, name) VALUES (gen_random_uuid(), 'Backup Test')")
    dump = tmp_path / "lab.dump"
    out = run("db", "backup", str(dump), "--db", db_url)
    assert out.returncode == 0 and dump.stat().st_size > 1000 and "pg_dump" in out.stdout
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM scientist")
    out = run("db", "restore", str(dump), "--db", db_url)
    assert out.returncode == 0, out.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT name FROM scientist").fetchall() == [("Backup Test",)]


def test_config_show_path_and_errors(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("receiver:\n  port: 5123\n")
    out = run("--config", str(cfg), "config", "show")
    assert out.returncode == 0 and "port: 5123" in out.stdout
    out = run("config", "path", env={"PEROCUBE_CONFIG_DIR": str(tmp_path / "cfgdir")})
    assert out.stdout.strip() == str(tmp_path / "cfgdir" / "config.yaml")
    cfg.write_text("receiver:\n  port: 5123\n  colour: blue\n")
    out = run("--config", str(cfg), "config", "show")
    assert out.returncode == 2 and "line 3: receiver.colour: unknown key" in out.stderr and "Traceback" not in out.stderr


def test_no_database(tmp_path):
    out = run("db", "status", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert out.returncode != 0 and "cannot use the database" in out.stderr and "Traceback" not in out.stderr
