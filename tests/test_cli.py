"""The command line as a user runs it: real processes, real database."""

from __future__ import annotations

import os
import re
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


@pytest.mark.direct_connection("pg_dump/pg_restore set session settings (search_path) for the whole session; "
                               "through a transaction pooler they would run on, and stay on, other server sessions "
                               "(docs/dba.md: backups use the server directly)")
def test_db_commands_and_backup_restore(db_url, tmp_path, backend):
    out = run("db", "status", "--db", db_url)
    assert out.returncode == 0 and "schema:      version" in out.stdout
    assert ("timescaledb: active" if backend == "timescaledb" else "plain PostgreSQL") in out.stdout
    if backend == "timescaledb":  # each hypertable and each of its background jobs, by name
        assert re.search(r"^  mpp_measurement +\d+ chunks, \d+ compressed, ", out.stdout, re.M), out.stdout
        assert re.search(r"^ +\d+ refresh +mpp_rollup_1m +last run ", out.stdout, re.M), out.stdout
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


def test_embedded_server_that_cannot_start(tmp_path):
    """A data folder where the embedded server cannot live: one line naming it and what to do."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "pgdata").write_text("not a folder")
    out = run("db", "status", env={"PEROCUBE_DATA_DIR": str(data)})
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "embedded PostgreSQL" in errors[0] and str(data / "pgdata") in errors[0]
    assert "--db" in errors[0] and "Traceback" not in out.stderr


# --- options before or after the command (#12) -------------------------------------------------------

BAD_URL = "postgresql://nobody@127.0.0.1:1/placement_check"

#: the arguments each command needs besides the global options; a command not listed needs none
REQUIRED = {
    ("import",): ["some/folder"],
    ("report",): ["--all", "--out", "r.pdf"],
    ("export", "nomad"): ["--device", "D", "--out", "u.zip"],
    ("db", "backup"): ["f.dump"],
    ("db", "restore"): ["f.dump"],
}


def _leaf_commands():
    from perocube_desktop.cli import _all_subparsers, _globalize, _subparsers, build_parser

    def walk(parser, path):
        action = _subparsers(parser)
        if action is None:
            yield path
            return
        for name, sp in action.choices.items():
            yield from walk(sp, (*path, name))

    parser = _globalize(build_parser())
    assert _all_subparsers(parser)
    return list(walk(parser, ()))


LEAVES = _leaf_commands()


@pytest.mark.parametrize("command", LEAVES, ids=[" ".join(c) or "gui" for c in LEAVES])
@pytest.mark.parametrize("where", ["before", "after", "both"])
def test_global_options_in_any_position(command, where, tmp_path):
    from perocube_desktop.cli import parse_args

    cfg = tmp_path / "c.yaml"
    glob = ["--db", BAD_URL, "--config", str(cfg)]
    rest = REQUIRED.get(command, [])
    if where == "before":
        argv = [*glob, *command, *rest]
    elif where == "after":
        argv = [*command, *rest, *glob]
    else:  # the one given last wins, as everywhere on a command line
        argv = ["--db", "postgresql://other@h/x", "--config", "other.yaml", *command, *rest, *glob]
    args = parse_args(argv)
    assert args.db == BAD_URL and args.config == cfg


@pytest.mark.parametrize("command", [c for c in LEAVES if c], ids=[" ".join(c) for c in LEAVES if c])
def test_gui_options_before_a_command_are_refused(command):
    out = run("--demo", *command, *REQUIRED.get(command, []))
    assert out.returncode == 2 and "--demo is an option of the GUI" in out.stderr, out.stderr


@pytest.mark.parametrize("command", [["db", "status"], ["db", "migrate"], ["report", "--all", "--out", "r.pdf"],
                                     ["import", "FOLDER"], ["db", "backup", "x.dump"]])
def test_db_before_the_command_is_used(command, tmp_path):
    """`--db URL db status` used to report on the embedded database and exit 0."""
    argv = [str(tmp_path) if a == "FOLDER" else a for a in command]
    if "FOLDER" in command:  # a lab folder: a folder without lab files is refused before the database
        (tmp_path / "data_2024").mkdir()
        (tmp_path / "data_2024" / "output_board1_channel1.txt").write_text("2024-05-03T00:00:00\t1\t1\t1\n")
    out = subprocess.run([sys.executable, "-m", "perocube_desktop", "--db", BAD_URL, *argv], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert out.returncode != 0 and "cannot use the database" in out.stderr and "127.0.0.1" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "x.dump").exists()


def test_db_before_the_command_reaches_that_database(db_url):
    out = run("--db", db_url, "db", "status")
    name = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]  # a URL (plain) or key=value (TimescaleDB)
    assert out.returncode == 0 and name in out.stdout and "embedded" not in out.stdout, out.stdout


def test_config_before_and_after_the_command(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("receiver:\n  port: 5123\n")
    for argv in (["--config", str(cfg), "config", "show"], ["config", "show", "--config", str(cfg)],
                 ["config", "--config", str(cfg), "show"]):
        out = run(*argv)
        assert out.returncode == 0 and "port: 5123" in out.stdout and str(cfg) in out.stdout, argv
