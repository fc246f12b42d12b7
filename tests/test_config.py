"""Config loading and validation (no Qt, no database)."""

from __future__ import annotations

import pytest

from perocube_desktop import config
from perocube_desktop.config import ConfigError


def write(tmp_path, text):
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def test_missing_file_gives_defaults(tmp_path):
    s = config.load(tmp_path / "nope.yaml")
    assert s.receiver.port == 5000 and s.receiver.allow == ["127.0.0.1", "::1"] and s.database.url is None


def test_valid_file_round_trips(tmp_path):
    p = write(tmp_path, "receiver:\n  port: 5100\n  allow: [127.0.0.1, 10.0.0.0/24]\nalarms:\n  stale_after_s: 30\n")
    s = config.load(p)
    assert s.receiver.port == 5100 and s.alarms.stale_after_s == 30.0 and isinstance(s.alarms.stale_after_s, float)
    s.receiver.port = 5200
    config.save(s)
    assert config.load(p).receiver.port == 5200


@pytest.mark.parametrize("text, message", [
    ("receiver:\n  port: 5000\n  prot: 1\n", r"line 3: receiver.prot: unknown key"),
    ("receiver:\n  port: five\n", r"line 2: receiver.port: expected int"),
    ("receiver:\n  port: 70000\n", r"line 2: receiver.port: must be between"),
    ("receiver:\n  allow: [nonsense]\n", r"receiver.allow: 'nonsense' is not an IP"),
    ("receiver:\n  source_timezone: Mars/Base\n", r"unknown time zone"),
    ("database:\n  url: postgresql://lab:secret@db.lab/perocube\n", r"line 2: database.url: contains a password"),
    ("databse: {}\n", r"line 1: databse: unknown key"),
    ("logging:\n  level: LOUD\n", r"logging.level"),
    ("receiver: [1, 2]\n", r"receiver: expected a mapping"),
    ("report:\n  smoothing: often\n", r"line 2: report.smoothing: use a duration"),
    ("receiver:\n  port: [\n", r"not valid YAML"),
])
def test_errors_name_key_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, text))
