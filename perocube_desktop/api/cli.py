"""``perocube-desktop serve``: the read API in the foreground.

Self-contained: ``register(subparsers)`` adds the command, ``run(args, settings)`` runs it.
Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..config import Settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="read-only HTTP API for notebooks and dashboards (docs at /docs)",
                       description="Serve the lab's read API (docs/api.md). Loopback needs no credentials; "
                                   "any other address needs a bearer token (PEROCUBE_API_TOKEN or the OS "
                                   "keyring, see --new-token).")
    # --db and --config come from cli.GLOBAL_OPTIONS (added to every subcommand)
    p.add_argument("--host", help="listen address (default: api.host in the config, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: api.port in the config, 8000)")
    p.add_argument("--new-token", action="store_true",
                   help="create a random bearer token, store it in the OS keyring, print it once and exit")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from .. import interrupt, ports
    from ..db import connection, migrate
    from .server import ApiConfigError, new_token, serve_forever, token_for

    if args.new_token:
        try:
            token = new_token()
        except Exception as exc:  # keyring backends raise many kinds
            print(f"error: cannot store the token in the OS keyring ({exc}); set PEROCUBE_API_TOKEN instead",
                  file=sys.stderr)
            return 2
        print(token)
        print("stored in the OS keyring; clients send 'Authorization: Bearer <token>'", file=sys.stderr)
        return 0
    host = args.host or settings.api.host
    port = args.port if args.port is not None else settings.api.port
    if not 0 <= port < 65536:
        print(f"error: --port must be between 0 and 65535, not {port}", file=sys.stderr)
        return 2
    try:
        token_for(host)  # refuse before touching the database
    except ApiConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:  # bound before anything claims success: a busy port is one line naming what holds it
        sock = ports.listen(host, port, "the read API")
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with sock:
        target = connection.resolve(settings, getattr(args, "db", None))
        try:
            if target.embedded is not None:  # ours: bring it to the current schema
                migrate.migrate(target.conninfo, settings.database.compress_after_days)
            # a read replica when one is configured (never migrated or written: a hot standby)
            conninfo = (target.conninfo if getattr(args, "db", None)
                        else connection.read_conninfo(settings, target.conninfo))
            where = target.description if conninfo == target.conninfo else "the read replica (database.read_url)"
            signum = serve_forever(conninfo, settings, host, port, sock, on_listening=lambda: print(
                f"read API on http://{host}:{port} (docs at /docs) reading {where}", flush=True))
        except ApiConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            target.stop()
    if signum is not None:
        print(interrupt.message(signum, f"the read API on {host}:{port} stopped after answering its open requests; "
                                        "start it again with 'perocube-desktop serve'"), file=sys.stderr)
        return interrupt.exit_code(signum)
    return 0
