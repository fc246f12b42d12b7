"""One YAML config file, validated on load into one typed ``Settings`` object.

Errors name the key and the line of the file (``ConfigError``), never a traceback.
The database password is never stored here: it comes from ``PGPASSWORD`` /
``PEROCUBE_DB_PASSWORD``, ``.pgpass`` or the OS keyring (see ``db.connection``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from . import paths


class UserError(ValueError):
    """A mistake the user can fix: shown as one line naming the problem and the fix, no traceback."""


class ConfigError(UserError):
    """A config problem, with the file, line and key it concerns."""


@dataclass
class DatabaseSettings:
    url: str | None = None  # libpq URI or conninfo; None = embedded server
    read_url: str | None = None  # a read replica (hot standby) for viewer mode, the read API and reports
    embedded_dir: str | None = None  # default: <user data folder>/pgdata
    compress_after_days: int = 7  # TimescaleDB compression of older chunks


@dataclass
class ReceiverSettings:
    host: str = "127.0.0.1"
    port: int = 5000
    allow: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    source_timezone: str = "UTC"
    max_line_bytes: int = 1048576
    buffer_file: str | None = None  # default: <user data folder>/ingest-buffer.sqlite3
    # false: this PC does not receive (a `receive` service does, or it is an office PC); the GUI then
    # follows the database (viewer mode), refreshed every viewer_poll_s seconds
    enabled: bool = True
    viewer_poll_s: float = 2.0


@dataclass
class WriterSettings:
    batch_rows: int = 50000
    flush_interval_s: float = 0.2
    max_backoff_s: float = 30.0


@dataclass
class AlarmSettings:
    stale_after_s: float = 120.0
    power_drop_pct: float = 30.0
    light_threshold_wm2: float = 500.0
    temperature_max_c: float = 85.0
    db_unreachable_min: float = 5.0
    projected_t80_min_h: float = 100.0  # live projection: alarm below this projected T80 (0: off)
    sibling_rate_factor: float = 2.0  # alarm when a pixel's PCE falls this many times faster than its siblings' (0: off)


@dataclass
class ReportSettings:
    light_threshold_wm2: float = 500.0
    smoothing: str = "1h"
    # per board: irradiance sensor "IDENTIFIER/CHANNEL" and temperature sensor identifier
    default_irradiance_sensor: dict[int, str] = field(default_factory=dict)
    default_temperature_sensor: dict[int, str] = field(default_factory=dict)


@dataclass
class LoggingSettings:
    level: str = "INFO"
    file: str | None = None  # default: <user log folder>/perocube-desktop.log
    max_bytes: int = 5_000_000
    backups: int = 5


@dataclass
class ApiSettings:
    """The read API (docs/api.md) run beside the receiver by the desktop app."""

    enabled: bool = False
    host: str = "127.0.0.1"  # a non-loopback address needs a token (PEROCUBE_API_TOKEN or the OS keyring)
    port: int = 8000


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    receiver: ReceiverSettings = field(default_factory=ReceiverSettings)
    writer: WriterSettings = field(default_factory=WriterSettings)
    alarms: AlarmSettings = field(default_factory=AlarmSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    source: str | None = field(default=None, metadata={"internal": True})
    # --demo: simulated data goes to a database and buffer of its own (<data>/demo), never the real ones
    demo: bool = field(default=False, metadata={"internal": True})

    # derived paths -------------------------------------------------------
    def demo_dir(self) -> Path:
        return paths.data_dir() / "demo"

    def embedded_dir(self) -> Path:
        if self.demo:
            return self.demo_dir() / "pgdata"
        return Path(self.database.embedded_dir) if self.database.embedded_dir else paths.data_dir() / "pgdata"

    def buffer_file(self) -> Path:
        if self.demo:
            return self.demo_dir() / "ingest-buffer.sqlite3"
        return Path(self.receiver.buffer_file) if self.receiver.buffer_file else paths.data_dir() / "ingest-buffer.sqlite3"

    def log_file(self) -> Path:
        return Path(self.logging.file) if self.logging.file else paths.log_dir() / "perocube-desktop.log"


# --- loading ---------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    lines = {}
    for key_node, _ in node.value:
        lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_value(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(inner[0], value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_check_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {
            _check_value(args[0], k, f"{where} key {k!r}"): _check_value(args[1], v, f"{where}.{k}")
            for k, v in value.items()
            if k != "__lines__"
        }
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if isinstance(value, bool) and tp is not bool:
            raise ConfigError(f"{where}: expected {tp.__name__}, got a boolean")
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type")  # pragma: no cover - schema error


def _build(cls: type, data: dict, file: str, prefix: str) -> Any:
    lines = data.get("__lines__", {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs = {}
    for key, value in data.items():
        if key == "__lines__":
            continue
        where = f"{file}, line {lines.get(key, '?')}: {prefix}{key}"
        if key not in known:
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(known))})")
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a nested settings section
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a mapping")
            kwargs[key] = _build(tp, value, file, f"{prefix}{key}.")
        else:
            kwargs[key] = _check_value(tp, value, where)
    obj = cls(**kwargs)
    _validate(obj, lambda k: f"{file}, line {lines.get(k, '?')}: {prefix}{k}")
    return obj


def _validate(obj: Any, where: typing.Callable[[str], str]) -> None:
    if isinstance(obj, ReceiverSettings):
        if not 0 < obj.port < 65536:
            raise ConfigError(f"{where('port')}: must be between 1 and 65535, got {obj.port}")
        for addr in obj.allow:
            try:
                ipaddress.ip_network(addr, strict=False)
            except ValueError:
                raise ConfigError(f"{where('allow')}: {addr!r} is not an IP address or network") from None
        check_timezone(obj.source_timezone, where("source_timezone"))
        if obj.max_line_bytes < 1024:
            raise ConfigError(f"{where('max_line_bytes')}: must be at least 1024")
        if obj.viewer_poll_s <= 0:
            raise ConfigError(f"{where('viewer_poll_s')}: must be positive")
    if isinstance(obj, ApiSettings) and not 0 < obj.port < 65536:
        raise ConfigError(f"{where('port')}: must be between 1 and 65535, got {obj.port}")
    if isinstance(obj, DatabaseSettings):
        for key in ("url", "read_url"):
            if getattr(obj, key):
                check_postgresql(getattr(obj, key), where(key), ConfigError)
                check_no_password(getattr(obj, key), where(key))
    if isinstance(obj, LoggingSettings) and obj.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{where('level')}: must be DEBUG, INFO, WARNING or ERROR, got {obj.level!r}")
    if isinstance(obj, ReportSettings):
        from .units import duration_hours as smoothing_hours

        try:
            if smoothing_hours(obj.smoothing) <= 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"{where('smoothing')}: use a duration like 1h or 30min, not {obj.smoothing!r}") from None
    if isinstance(obj, AlarmSettings):
        for f in dataclasses.fields(obj):
            if getattr(obj, f.name) < 0:
                raise ConfigError(f"{where(f.name)}: must not be negative")


def check_timezone(name: str, where: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r}") from None


def check_no_password(url: str, where: str) -> None:
    import psycopg.conninfo

    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"{where}: not a valid libpq URI or conninfo: {exc}") from None
    if parts.get("password"):
        raise ConfigError(
            f"{where}: contains a password. Keep it out of the YAML: set PGPASSWORD or "
            "PEROCUBE_DB_PASSWORD, use ~/.pgpass, or store it in the OS keyring "
            "(perocube-desktop config set-password)"
        )


def check_postgresql(url: str, where: str, error: type[UserError] = UserError) -> None:
    """Only PostgreSQL URLs: ``mysql://...`` and the like would otherwise fail deep inside libpq."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else None
    if scheme is not None and scheme not in ("postgresql", "postgres"):
        raise error(f"{where}: {scheme}:// is not PostgreSQL; this app needs PostgreSQL or TimescaleDB, "
                        "e.g. postgresql://user@host:5432/dbname")
    if scheme is None:
        import psycopg.conninfo

        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            reason = " ".join(str(exc).split())  # libpq's message ends in a line break: one line
            hint = f"; did you mean postgresql://{url}?" if "=" not in url and ("/" in url or ":" in url) else ""
            raise error(f"{where}: {url!r} is neither a postgresql:// URL nor a conninfo string ({reason}){hint}") \
                from None


def load(path: Path | None = None) -> Settings:
    """Load and validate the config file; a missing file gives the defaults."""
    path = path or paths.config_file()
    if not path.exists():
        return Settings()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    settings = _build(Settings, data, str(path), "")
    settings.source = str(path)
    return settings


def to_dict(settings: Settings) -> dict:
    data = dataclasses.asdict(settings)
    for f in dataclasses.fields(Settings):
        if f.metadata.get("internal"):
            data.pop(f.name, None)
    return data


def save(settings: Settings, path: Path | None = None) -> Path:
    path = path or (Path(settings.source) if settings.source else paths.config_file())
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(to_dict(settings), sort_keys=False, default_flow_style=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("# Perocube Desktop configuration (see docs/configuration.md)\n" + text, encoding="utf-8")
    os.replace(tmp, path)
    settings.source = str(path)
    return path
