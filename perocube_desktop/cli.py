"""Command line: ``perocube-desktop [GUI options] | receive | simulate | import | report | db | config``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import warnings
from pathlib import Path

from . import __version__, config, interrupt, paths
from .config import ConfigError, Settings, UserError

log = logging.getLogger(__name__)


#: Options that work in any position: before the subcommand or after it (``--db URL db status`` and
#: ``db status --db URL`` are the same). Added to every subcommand by ``_globalize``, so a subcommand
#: added later gets them without doing anything.
GLOBAL_OPTIONS: list[tuple[tuple[str, ...], dict]] = [
    (("--config",), dict(metavar="FILE", type=Path, help="config file (default: PEROCUBE_CONFIG, else the "
                                                         "user config folder; see 'config path')")),
    (("--db",), dict(metavar="URL", help="libpq URI or conninfo (default: PEROCUBE_DB_URL, the config, "
                                         "else the embedded database)")),
]


def _add_db(p: argparse.ArgumentParser) -> None:
    """Kept for subcommands that add --db themselves; ``_globalize`` adds it everywhere anyway."""
    if "--db" not in p._option_string_actions:
        p.add_argument("--db", metavar="URL", help="libpq URI or conninfo (default: PEROCUBE_DB_URL, the config, "
                                                    "else the embedded database)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perocube-desktop",
        description="Perocube Desktop: LabVIEW ingest, live monitoring, registry, import and reports "
                    "for the PeroCube ageing lab. Without a command, starts the GUI. --config and --db "
                    "may be given before or after the command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for flags, kwargs in GLOBAL_OPTIONS:
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--demo", action="store_true",
                        help="run the built-in LabVIEW simulator into a separate demo database (<data>/demo)")
    parser.add_argument("--port", type=int, help="receiver port (default from the config, 5000)")
    parser.add_argument("--smoke-test", type=float, metavar="SECONDS", help="run the GUI for SECONDS, then exit")
    parser.add_argument("--screenshot", type=Path, metavar="FILE.png", help="with --smoke-test: save the window")
    parser.add_argument("--page", choices=["overview", "plots", "registry", "import", "reports"],
                        help="page to show first")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("receive", help="run the receiver and database writer without a GUI (lab PC service)")
    _add_db(p)
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 5000)")
    p.add_argument("--allow", action="append", metavar="ADDR", help="allowed peer address or network (repeatable)")
    p.add_argument("--buffer", type=Path, help="local buffer file (default in the user data folder)")

    p = sub.add_parser("simulate", help="a LabVIEW stand-in sending realistic MPP and sensor data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--boards", type=int, default=2)
    p.add_argument("--first-board", type=int, default=1, help="number of the first board (several setups)")
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples (simulated time)")
    p.add_argument("--duration", type=float, help="simulated seconds to run (default: until Ctrl-C)")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--framing", choices=["line", "vi", "vi-per-message"], default="line",
                   help="line protocol, or like the lab's VIs: bare JSON and 3-byte replies (docs/labview.md)")
    p.add_argument("--give-up-after", type=float, default=30.0, metavar="S",
                   help="no receiver accepts a connection for S seconds: stop with an error (default 30)")

    p = sub.add_parser("import", help="import historical data folders and the logbook")
    _add_db(p)
    p.add_argument("folder", help="the lab folder (holding data* folders and the logbook)")
    p.add_argument("--timezone", default="UTC", help="time zone of naive timestamps (default UTC)")
    p.add_argument("--dry-run", action="store_true", help="scan and count, write nothing")
    p.add_argument("--no-logbook", action="store_true", help="skip logbook workbooks")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")

    p = sub.add_parser("report", help="statistics and stability (ISOS) report")
    _add_db(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--device", help="device name")
    which.add_argument("--board", type=int)
    which.add_argument("--all", action="store_true")
    which.add_argument("--experiment", help="all pixels of an experiment's devices")
    which.add_argument("--project", help="all pixels of a project's devices")
    p.add_argument("--pixel")
    p.add_argument("--from", dest="start", help="ISO time")
    p.add_argument("--to", dest="end", help="ISO time")
    p.add_argument("--run", default="latest", metavar="latest|all|N",
                   help="which ageing run of each pixel (a gap longer than the data before it starts a new run): "
                        "the latest (default), all, or run N (1 = the oldest)")
    p.add_argument("--out", type=Path, required=True, help="FILE.pdf, .csv, .xlsx or .json")

    p = sub.add_parser("db", help="database maintenance")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, text in (("migrate", "bring the database to the current schema"),
                       ("status", "applied schema version and TimescaleDB state")):
        q = dsub.add_parser(name, help=text)
        _add_db(q)
    q = dsub.add_parser("backup", help="pg_dump the database to FILE (custom format)")
    _add_db(q)
    q.add_argument("file", type=Path)
    q = dsub.add_parser("restore", help="pg_restore FILE into the database")
    _add_db(q)
    q.add_argument("file", type=Path)

    p = sub.add_parser("config", help="show the configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    csub.add_parser("show", help="print the effective configuration as YAML")
    csub.add_parser("path", help="print the config file path")
    q = csub.add_parser("set-password", help="store the database password in the OS keyring")
    _add_db(q)
    csub.add_parser("set-nomad-token", help="store the NOMAD API token in the OS keyring (export nomad --upload)")
    from .api.cli import register as register_serve
    from .export.cli import register as register_export

    register_serve(sub)
    register_export(sub)
    return parser


# --- options in any position ---------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _all_subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    action = _subparsers(parser)
    if action is not None:
        for sp in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
            found.append(sp)
            found.extend(_all_subparsers(sp))
    return found


def _globalize(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make options work before or after the subcommand.

    argparse copies every default of the chosen subparser over the values parsed before it, which
    silently dropped ``--db URL`` given before ``db status``. So every optional action gets the default
    SUPPRESS (absent from the namespace unless given) and its real default is filled in afterwards
    (``_finish``); the value given last on the command line wins.
    """
    for sp in _all_subparsers(parser):
        for flags, kwargs in GLOBAL_OPTIONS:
            if flags[0] not in sp._option_string_actions:
                sp.add_argument(*flags, **kwargs)
    for p in [parser, *_all_subparsers(parser)]:
        for action in p._actions:
            if action.option_strings and action.default is not argparse.SUPPRESS \
                    and not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                action.real_default = action.default  # type: ignore[attr-defined]
                action.default = argparse.SUPPRESS
    return parser


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[argparse.ArgumentParser]:
    """The parser and the chain of subparsers the command line selected."""
    chain = [parser]
    while (action := _subparsers(chain[-1])) is not None and action.dest not in (None, argparse.SUPPRESS):
        name = getattr(args, action.dest, None)
        if name is None:
            break
        chain.append(action.choices[name])
    return chain


def _finish(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    chain = _chosen(parser, args)
    if len(chain) > 1:  # an option of the GUI before a command that has no such option: refuse, never ignore
        command = " ".join(getattr(args, a.dest) for p in chain[:-1] if (a := _subparsers(p)) is not None
                           and getattr(args, a.dest, None))
        for action in parser._actions:
            if action.option_strings and hasattr(args, action.dest) and action.dest not in ("help", "version") \
                    and not any(action.dest == a.dest for p in chain[1:] for a in p._actions):
                parser.error(f"{'/'.join(action.option_strings)} is an option of the GUI; "
                             f"'{command}' does not take it (see 'perocube-desktop {command} --help')")
    for p in chain:
        for action in p._actions:
            if hasattr(action, "real_default") and not hasattr(args, action.dest):
                setattr(args, action.dest, action.real_default)
    return args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _globalize(build_parser())
    return _finish(parser, parser.parse_args(argv))


def _settings(args: argparse.Namespace) -> Settings:
    return config.load(args.config)


def _database(args: argparse.Namespace, settings: Settings, migrate: bool = True):
    from .db import connection

    return connection.open_database(settings, getattr(args, "db", None), migrate)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    target = _database(args, settings, migrate=False)
    again = f"run 'perocube-desktop db {args.db_command}{' ' + str(args.file) if 'file' in args else ''}' again"
    said = {"migrate": f"each migration is one transaction: those applied so far stay, the one running was rolled "
                       f"back; {again}",
            "backup": f"no backup was written to {getattr(args, 'file', '')}; {again}",
            "restore": f"the database holds what it held before, unless the backup uses TimescaleDB (then it is "
                       f"partly restored); {again} (it replaces everything)"}
    try:
        with interrupt.describe(said.get(args.db_command, f"nothing was changed; {again}")):
            return _db_action(args, settings, target)
    finally:
        target.stop()


def _db_action(args: argparse.Namespace, settings: Settings, target) -> int:
    from .db import migrate as mig, tools

    if args.db_command == "migrate":
        result = mig.migrate(target.conninfo, settings.database.compress_after_days)
        for notice in result.notices:
            print(f"  {notice}")
        if result.problem:
            print(f"warning: {result.problem}")
        print(f"{target.description}: schema at version {result.version}"
              + (f" (applied {', '.join(map(str, result.applied))})" if result.applied else " (already current)"))
    elif args.db_command == "status":
        from .db import connection, status as db_status

        print("\n".join(db_status.report_lines(target.conninfo, target.description)))
        read = connection.read_conninfo(settings, target.conninfo) if not args.db else target.conninfo
        if read != target.conninfo:
            print("\n".join(db_status.replica_lines(read)))
    else:
        major = _server_major(target.conninfo)
        fn = tools.backup if args.db_command == "backup" else tools.restore
        try:
            exe = fn(target.conninfo, args.file, major)
        except (FileNotFoundError, tools.ToolError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.db_command} of {target.description} {'to' if fn is tools.backup else 'from'} "
              f"{args.file} done with {exe}")
    return 0


def _server_major(conninfo: str) -> int:
    from .db import session as db_session

    with db_session.connect(conninfo) as conn:
        return conn.info.server_version // 10000


def _warn_samples_ahead(newest, source_timezone: str, said: dict[str, float]) -> None:
    """The clock alarm of a headless receiver: a log warning per board, again when the offset changes."""
    import time

    from .monitor.alarms import clock_text, samples_ahead

    for who, offset in samples_ahead(newest, time.time()).items():
        if abs(offset - said.get(who, float("-inf"))) > 600:
            said[who] = offset
            log.warning("ALARM %s", clock_text(who, offset, source_timezone))


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    if args.config_command == "path":
        print(args.config or paths.config_file())
    elif args.config_command == "show":
        print(f"# {settings.source or 'defaults (no config file at %s)' % (args.config or paths.config_file())}")
        print(yaml.safe_dump(config.to_dict(settings), sort_keys=False), end="")
    elif args.config_command == "set-nomad-token":
        return _set_nomad_token()
    else:
        import getpass

        import keyring
        import keyring.errors

        from .db import connection

        url = args.db or settings.database.url
        if not url:
            print("error: no remote database configured (--db URL or database.url)", file=sys.stderr)
            return 2
        config.check_postgresql(url, "--db" if args.db else "database.url")
        user = connection.keyring_user(url)
        try:  # before asking for the password: is there a keyring to put it in?
            keyring.get_password(connection.KEYRING_SERVICE, user)
        except keyring.errors.KeyringError as exc:
            print(f"error: no OS keyring available ({exc}); set PEROCUBE_DB_PASSWORD or PGPASSWORD in the "
                  "environment, or put the password in ~/.pgpass (%APPDATA%\\postgresql\\pgpass.conf on Windows)",
                  file=sys.stderr)
            return 2
        keyring.set_password(connection.KEYRING_SERVICE, user, getpass.getpass())
        print(f"password stored in the OS keyring for {user}")
    return 0


def _set_nomad_token() -> int:
    import getpass

    from .export.nomad_upload import TOKEN_ENV, store_token

    value = getpass.getpass("NOMAD token: ").strip()
    if not value:
        print("error: no token given; nothing stored", file=sys.stderr)
        return 2
    try:
        store_token(value)
    except Exception as exc:  # keyring backends raise many kinds
        print(f"error: cannot store the token in the OS keyring ({exc}); set {TOKEN_ENV} instead", file=sys.stderr)
        return 2
    print("NOMAD token stored in the OS keyring")
    return 0


def _usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line before anything runs, as one line (or None)."""
    if args.config is not None and not args.config.is_file() \
            and getattr(args, "config_command", None) != "path":
        return (f"config file {args.config} does not exist; fix the path, or leave out --config to use "
                f"{paths.config_file()}")
    if args.command == "report" and args.pixel and not args.device:
        return "--pixel needs --device (pixels are named within their device): add --device NAME"
    return None


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """The chosen command (the GUI without one); the services' own front ends load lazily."""
    if args.command is None:
        from .app import App
        from .ui.process import run_gui

        return run_gui(args, settings, App)
    if args.command == "import":
        from .importer.cli import run as run_import

        return run_import(args, settings)
    if args.command == "serve":
        from .api.cli import run as run_serve

        return run_serve(args, settings)
    if args.command == "report":
        from .stats.cli import run as run_report

        return run_report(args, settings)
    if args.command == "export":
        from .export.cli import run as run_export

        return run_export(args, settings)
    if args.command in ("receive", "simulate"):
        from .ingest import cli as ingest_cli

        if args.command == "simulate":
            return ingest_cli.run_simulate(args, settings)
        clock_said: dict[str, float] = {}
        return ingest_cli.run_receive(args, settings, on_status=lambda status: _warn_samples_ahead(
            status.last_sample, settings.receiver.source_timezone, clock_said))
    handlers = {"db": cmd_db, "config": cmd_config}
    return handlers[args.command](args, settings)


def _error_exit(exc: Exception) -> int | None:
    """One line on stderr and the exit code for an error a user can fix; None: a bug (re-raised)."""
    from .db.migrate import SchemaError

    if isinstance(exc, ConfigError):
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from .db.embedded import EmbeddedServerError

    if isinstance(exc, (UserError, paths.InstallationError, EmbeddedServerError)):
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, SchemaError):  # too new, a failed migration, an edited migration
        print(f"error: {exc}", file=sys.stderr)
        return 3
    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        reason = " ".join(str(exc).split())  # one line, whatever libpq wrapped
        print(f"error: cannot use the database: {reason} (check --db, PEROCUBE_DB_URL or database.url, "
              "and that the server runs)", file=sys.stderr)
        return 2
    return None


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = parse_args(argv)
    problem = _usage_error(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.command is not None:  # the GUI has its own orderly stop (shutdown, ui.session)
        interrupt.install()
    try:
        paths.check_installation()  # a frozen app or broken install without its SQL/resources says so
        settings = _settings(args)
        from . import logging_setup

        logging_setup.configure(settings, console=args.command is not None)
        return _run(args, settings)
    except KeyboardInterrupt as exc:  # interrupt.Interrupted, or a Ctrl-C before the handlers were in place
        signum, said = (exc.signum, exc.said) if isinstance(exc, interrupt.Interrupted) else (signal.SIGINT, None)
        print(interrupt.message(signum, said), file=sys.stderr)
        return interrupt.exit_code(signum)
    except Exception as exc:
        code = _error_exit(exc)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
