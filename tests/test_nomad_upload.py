"""The NOMAD upload client against a real HTTP server on loopback (tests/nomad_server.py: NOMAD 1.4's
routes, codes and JSON shapes): processing, failed entries, a failed processing, 401, 413, a server
that goes away mid-upload, an unreachable one; the CLI end to end. Nothing is ever published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keyring
import pytest
from helpers import free_port
from keyring.backend import KeyringBackend
from nomad_server import FakeNomad

from perocube_desktop.export.nomad_upload import (TOKEN_ENV, UploadError, api_base, store_token, token,
                                                  upload_and_process)
from perocube_desktop.importer.engine import run_import

TOKEN = "secret-token"


def _zip(path: Path, names=("D/D_A_mpp_tracking.archive.json", "D/D_solar_cell.archive.json",
                            "boards/board_1_environment.archive.json"), padding: int = 0) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for n in names:
            zf.writestr(n, json.dumps({"data": {"m_def": "x"}}))
        if padding:
            zf.writestr("raw/padding.csv", os.urandom(padding))  # stored incompressible: a big body
    return path


def _upload(server: FakeNomad, path: Path, tok: str = TOKEN, **kw):
    lines: list[str] = []
    done = upload_and_process(server.url, path, tok, "PeroCube device D", status=lines.append, poll_s=0.01, **kw)
    return done, lines


def test_upload_is_processed_and_never_published(tmp_path):
    sent = []
    with FakeNomad(TOKEN) as server:
        done, lines = _upload(server, _zip(tmp_path / "u.zip"), progress=lambda n, total: sent.append((n, total)))
        up = server.uploads[done.upload_id]
    assert done.entries == 3 and done.failed == []
    assert done.url == f"{server.url[:-len('/api/v1')]}/gui/user/uploads/upload/id/{done.upload_id}"
    assert up["upload_name"] == "PeroCube device D" and up["status"] == "SUCCESS"
    assert sent and sent[-1][0] == sent[-1][1] == (tmp_path / "u.zip").stat().st_size
    assert any("completed successfully" in line for line in lines)
    paths = [p for _m, p in server.requests]
    assert not any("publish" in p for p in paths)
    # NOMAD started processing the file upload itself: no second process was asked for
    assert not any(p.endswith("/action/process") for p in paths)


def test_processing_requested_when_nomad_did_not_start_it(tmp_path):
    with FakeNomad(TOKEN, autoprocess=False) as server:
        done, _ = _upload(server, _zip(tmp_path / "u.zip"))
    assert ("POST", f"/api/v1/uploads/{done.upload_id}/action/process") in server.requests
    assert done.entries == 3 and not done.failed


def test_entries_that_failed_are_named(tmp_path):
    with FakeNomad(TOKEN, fail_entries="solar_cell") as server:
        done, _ = _upload(server, _zip(tmp_path / "u.zip"))
    assert done.entries == 3
    assert len(done.failed) == 1 and done.failed[0].startswith("D/D_solar_cell.archive.json: normalizer")


def test_a_failed_processing_is_one_line_with_the_url(tmp_path):
    with FakeNomad(TOKEN, fail_upload="zip file is corrupt") as server, pytest.raises(UploadError) as err:
        _upload(server, _zip(tmp_path / "u.zip"))
    text = str(err.value)
    assert "could not process upload" in text and "zip file is corrupt" in text and "/gui/user/uploads/upload/id/" in text
    assert "\n" not in text


def test_401_names_the_token_and_the_fix(tmp_path):
    with FakeNomad(TOKEN) as server, pytest.raises(UploadError) as err:
        _upload(server, _zip(tmp_path / "u.zip"), tok="expired")
    text = str(err.value)
    assert "401 Unauthorized" in text and "Could not validate credentials" in text and TOKEN_ENV in text
    assert "set-nomad-token" in text and "\n" not in text and not server.uploads


def test_413_too_large(tmp_path):
    with FakeNomad(TOKEN, max_bytes=10_000) as server, pytest.raises(UploadError) as err:
        _upload(server, _zip(tmp_path / "u.zip", padding=200_000))
    assert "413" in str(err.value) and "too large" in str(err.value) and "--from/--to" in str(err.value)


def test_server_going_away_mid_upload(tmp_path):
    with FakeNomad(TOKEN, drop_after=64_000) as server, pytest.raises(UploadError) as err:
        _upload(server, _zip(tmp_path / "u.zip", padding=8_000_000))
    text = str(err.value)
    assert "lost during the upload" in text and "try again" in text and "\n" not in text
    assert not server.uploads


def test_unreachable_server(tmp_path):
    with pytest.raises(UploadError) as err:
        upload_and_process(f"http://127.0.0.1:{free_port()}/api/v1", _zip(tmp_path / "u.zip"), TOKEN, "x")
    assert str(err.value).startswith("cannot reach NOMAD at http://127.0.0.1:") and "network" in str(err.value)


def test_api_base():
    assert api_base("https://nomad-lab.eu/prod/v1/test/api/v1/") == "https://nomad-lab.eu/prod/v1/test/api/v1"
    assert api_base("https://oasis.example.org/nomad-oasis") == "https://oasis.example.org/nomad-oasis/api/v1"
    assert api_base("https://oasis.example.org/nomad-oasis/api") == "https://oasis.example.org/nomad-oasis/api/v1"
    with pytest.raises(UploadError, match="http"):
        api_base("oasis.example.org")


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        self.store.pop((service, username), None)


def test_token_from_the_environment_or_the_keyring(monkeypatch):
    from keyring.backends import fail

    previous = keyring.get_keyring()
    try:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
        keyring.set_keyring(fail.Keyring())  # a machine without a keyring
        with pytest.raises(UploadError, match="set NOMAD_TOKEN"):
            token()
        keyring.set_keyring(MemoryKeyring())
        store_token("  from-keyring ")
        assert token() == "from-keyring"
        monkeypatch.setenv(TOKEN_ENV, "from-env")
        assert token() == "from-env"
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def imported(db_url, sample_dir):
    run_import(db_url, sample_dir)
    return db_url


def test_cli_export_and_upload(imported, tmp_path):
    def run(*args, env_token: str | None = TOKEN):
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        if env_token:
            env[TOKEN_ENV] = env_token
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        return subprocess.run([sys.executable, "-m", "perocube_desktop", "export", "nomad", "--db", imported,
                               "--device", "OK_240415_02", *args], capture_output=True, text=True, timeout=300, env=env)

    with FakeNomad(TOKEN) as server:
        out = tmp_path / "up.zip"
        proc = run("--out", str(out), "--upload", server.url)
        assert proc.returncode == 0, proc.stderr
        assert "uploaded and processed: http://127.0.0.1:" in proc.stdout and "not published" in proc.stdout
        (up,) = server.uploads.values()
        assert up["upload_name"] == "PeroCube device OK_240415_02"
        assert {e["mainfile"] for e in up["entries"]} == {
            n for n in zipfile.ZipFile(out).namelist() if n.endswith(".archive.json")}
        assert f"({len(up['entries'])} entries, not published)" in proc.stdout
        proc = run("--out", str(tmp_path / "bad.zip"), "--upload", server.url, env_token="wrong")
        assert proc.returncode == 1 and "401 Unauthorized" in proc.stderr and "Traceback" not in proc.stderr
        proc = run("--out", str(tmp_path / "none.zip"), "--upload", server.url, env_token=None)
        assert proc.returncode == 2 and "no NOMAD token" in proc.stderr
        assert not (tmp_path / "none.zip").exists()  # refused before any work
