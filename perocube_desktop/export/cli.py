"""``perocube-desktop export nomad``: the NOMAD upload zip, and optionally its upload.

Self-contained: ``register(subparsers)`` adds the command, ``run(args, settings)`` runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export measured data to other systems (NOMAD)")
    esub = p.add_subparsers(dest="export_command", metavar="TARGET", required=True)
    q = esub.add_parser("nomad", help="a NOMAD upload zip (HZB and perovskite-database schemas; docs/nomad.md)",
                        description="Write the devices' MPP tracking, environment and solar-cell entries with the "
                                    "report's figures, the raw samples and the report into a zip for NOMAD; with "
                                    "--upload, send it to a NOMAD API and process it (never publishes). The token "
                                    "comes from NOMAD_TOKEN or the OS keyring ('config set-nomad-token').")
    which = q.add_mutually_exclusive_group(required=True)
    which.add_argument("--device", help="device name")
    which.add_argument("--experiment", help="all devices of an experiment")
    which.add_argument("--project", help="all devices of a project")
    q.add_argument("--from", dest="start", help="ISO time")
    q.add_argument("--to", dest="end", help="ISO time")
    q.add_argument("--out", type=Path, required=True, help="the zip to write (upload.zip)")
    q.add_argument("--upload", metavar="URL", help="NOMAD API base URL, e.g. https://nomad-lab.eu/prod/v1/test/api/v1")


def _selection(args):
    from ..stats.cli import parse_time
    from ..stats.report import Selection

    return Selection(device=args.device, experiment=args.experiment, project=args.project,
                     start=parse_time(args.start), end=parse_time(args.end, "--to"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..db.connection import open_database
    from .nomad_zip import export_nomad

    if args.out.suffix.lower() != ".zip":
        print(f"error: --out must end in .zip, not {args.out.suffix!r}", file=sys.stderr)
        return 2
    try:
        sel = _selection(args)
    except ValueError as exc:
        print(f"error: {exc} (--from/--to take ISO times, e.g. 2024-05-03T08:00)", file=sys.stderr)
        return 2
    upload = None
    if args.upload:
        from .nomad_upload import UploadError, token

        try:
            upload = token()  # before the work: a missing token is found in a second, not after the export
        except UploadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    target = open_database(settings, getattr(args, "db", None))
    try:
        result = export_nomad(target.conninfo, sel, settings.report, args.out,
                              progress=lambda i, n: print(f"\r{i}/{n}", end="", file=sys.stderr))
        print(file=sys.stderr)
    finally:
        target.stop()
    print(f"NOMAD upload {result.path}: {len(result.entries)} archive entries for {result.devices} devices "
          f"({result.pixels} pixels), {len(result.files)} other files, {result.seconds:.1f} s")
    for line in result.left_out:
        print(f"  left out: {line}")
    if upload is None:
        return 0
    return _upload(args.upload, result.path, upload, sel.describe())


def _upload(url: str, path: Path, token: str, name: str) -> int:
    from .nomad_upload import UploadError, upload_and_process

    try:
        done = upload_and_process(url, path, token, f"PeroCube {name}",
                                  status=lambda text: print(text, file=sys.stderr))
    except UploadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"uploaded and processed: {done.url} ({done.entries} entries, not published)")
    for failed in done.failed:
        print(f"  failed to process: {failed}")
    return 1 if done.failed else 0
