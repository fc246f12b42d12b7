"""``perocube-desktop receive`` and ``simulate``: the headless receiver (lab PC service) and the
LabVIEW stand-in. SIGINT/SIGTERM (and the Windows console close) end both in order, with one line
saying what was done, exit code 128 + the signal (``interrupt``)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

from .. import interrupt
from ..config import Settings
from ..errors import first_line
from ..status import IngestStatus

log = logging.getLogger(__name__)

LOG_EVERY_S = 10.0  # the receive status line; its rate is measured over this same interval


def run_receive(args, settings: Settings, on_status: Callable[[IngestStatus], None] | None = None) -> int:
    """``on_status``: called with each status snapshot (every LOG_EVERY_S; the clock alarm's log warning)."""
    import psycopg

    from .. import shutdown
    from ..db import connection, migrate as mig
    from ..status import RateMeter
    from .service import IngestService

    target = connection.resolve(settings, args.db)
    stop = threading.Event()
    stopped = threading.Event()
    reasons: list[str] = []

    def request_stop(reason: str) -> None:
        reasons.append(reason)
        stop.set()

    shutdown.install(request_stop, stopped)
    try:
        database_ok = _migrate_or_buffer(target.conninfo, settings, mig, psycopg)
        service = IngestService(settings, target.conninfo, buffer_file=args.buffer, port=args.port, host=args.host,
                                allow=args.allow, tap_size=0)
        try:
            service.start()
        except OSError as exc:  # a busy port names what holds it (ports.PortInUse), the address once
            service.stop(0)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        left = 0
        try:
            if not database_ok:
                connection.migrate_when_reachable(target.conninfo, settings.database.compress_after_days, stop)
            print(f"receiving on {service.receiver.address}, writing to {target.description}", flush=True)
            meter = RateMeter(LOG_EVERY_S)
            while not stop.wait(LOG_EVERY_S):
                status = service.status()
                rate, over = meter.update(status.rows_accepted)
                log.info("clients %d, %.0f rows/s over the last %.0f s, %d buffered, database %s%s", status.clients,
                         rate, over, status.buffered_rows, status.db_state, f" ({status.db_error})" if status.db_error else "")
                if on_status is not None:
                    on_status(status)
        finally:
            log.info("shutdown: flushing the buffer and stopping the receiver")
            accepted, written = service.receiver.counters.rows_accepted, service.writer.rows_written
            left = service.stop()
    finally:
        target.stop()
        log.info("shutdown complete")
        stopped.set()
    if not reasons:
        return 0
    signum = getattr(signal, reasons[0], signal.SIGTERM)  # a Windows console event counts as a SIGTERM
    kept = f", {left:,} kept in the local buffer for the next start" if left else ""
    print(interrupt.message(signum, f"receiver stopped after {accepted:,} rows accepted ({written:,} written to the "
                                    f"database{kept}); start it again with 'perocube-desktop receive'"),
          file=sys.stderr, flush=True)
    return interrupt.exit_code(signum)


def _migrate_or_buffer(conninfo: str, settings: Settings, mig, psycopg) -> bool:
    """Bring the database to the current schema; False when it is not reachable (a lab PC that boots
    before the network: receive and ACK into the buffer, write later)."""
    try:
        mig.migrate(conninfo, settings.database.compress_after_days)
        return True
    except psycopg.OperationalError as exc:
        reason = first_line(exc)
        log.warning("database not reachable (%s): receiving into the local buffer, retrying", reason)
        print(f"database not reachable ({reason}): receiving into the local buffer and retrying", flush=True)
        return False


def run_simulate(args, settings: Settings) -> int:
    from .simulator import SimConfig, SimulatorGaveUp, Simulator

    sim = Simulator(SimConfig(args.host, args.port, args.boards, args.channels, args.interval, args.duration,
                              args.speedup, framing=args.framing, give_up_after_s=args.give_up_after,
                              first_board=args.first_board))
    try:
        with interrupt.cooperative(lambda _sig: sim.stop()) as stop:
            stats = sim.run()
    except SimulatorGaveUp as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sent = f"sent {stats.messages:,} messages, {stats.rows:,} rows, {stats.errors:,} errors"
    if stop.signum is not None:
        print(interrupt.message(stop.signum, f"{sent}; run the same 'perocube-desktop simulate' again to send more"),
              file=sys.stderr)
        return interrupt.exit_code(stop.signum)
    print(sent)
    return 0
