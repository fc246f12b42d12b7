"""What an import is asked to do and what it did: options, progress, per-file outcomes, the summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from ..protocol import KINDS
from ..units import plural

# Bytes per chunk, one transaction each: ~22,000 MPP lines on plain PostgreSQL, ~5,500 with
# TimescaleDB. Small enough that the loaders, taking one chunk of each series in turn, pass a common
# time often: the TimescaleDB refresh beside them (importer.parallel) then follows the load closely
# (with 4 MB chunks and files of 5 MB it started only when the load was three quarters done). On
# TimescaleDB 256 KB was fastest (3.87 M rows: 9.2 s against 10.3 s with 512 KB and 10.9 s with 1 MB);
# plain PostgreSQL, whose refresher works per channel, is slower with 256 KB (6.2 s against 5.4 s).
CHUNK_BYTES = 1 << 20
CHUNK_BYTES_TIMESCALEDB = 256 << 10


def chunk_bytes(timescaledb: bool) -> int:
    return CHUNK_BYTES_TIMESCALEDB if timescaledb else CHUNK_BYTES


@dataclass
class ImportOptions:
    timezone: str = "UTC"
    dry_run: bool = False
    include_logbook: bool = True
    chunk_bytes: int | None = None  # None: the importer's choice for the server (chunk_bytes())
    keep_problems: int = 1000  # problems listed per file (all are counted)
    loaders: int = 2  # connections loading files side by side (engine: one when there is one file)

    @property
    def read_size(self) -> int:
        """Bytes per chunk: as chosen (``run_import`` chooses for the server), else the plain default."""
        return self.chunk_bytes or CHUNK_BYTES


class Cancel(Protocol):
    """What the import asks of a cancel flag (a ``threading.Event``)."""

    def is_set(self) -> bool: ...


@dataclass
class Progress:
    files_done: int
    files_total: int
    rows_done: int
    bytes_done: int
    bytes_total: int
    current: str = ""


@dataclass
class FileOutcome:
    file: str
    kind: str
    target: str
    status: str  # imported | unchanged | failed | dry-run
    lines: int = 0
    good: int = 0
    inserted: int = 0
    duplicates: int = 0
    # every line of the file is one of: inserted, duplicate, bad (content refused: quarantined with its
    # reason), blank, or an incomplete last line (left for the next import: LabVIEW may still be writing it)
    bad_lines: int = 0
    blank_lines: int = 0
    incomplete_last_line: int = 0
    mode: str = ""  # new | tail | rewritten
    message: str = ""


@dataclass
class Problem:
    file: str
    line: int | None
    reason: str


@dataclass
class ImportSummary:
    inserted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    duplicates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    bad_lines: int = 0  # lines with content that were refused, each quarantined with its reason
    blank_lines: int = 0
    incomplete_lines: int = 0  # cut last lines, left for the next import
    lines: int = 0  # lines read: sum(inserted) + sum(duplicates) + bad_lines + blank_lines + incomplete_lines
    files: dict[str, int] = field(default_factory=lambda: {"imported": 0, "unchanged": 0, "skipped": 0})
    logbook: dict[str, int] = field(default_factory=lambda: {"devices": 0, "pixels": 0, "events": 0, "rows_skipped": 0})
    problems: list[Problem] = field(default_factory=list)
    outcomes: list[FileOutcome] = field(default_factory=list)
    skipped_files: list[dict] = field(default_factory=list)
    cancelled: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    rollup_seconds: float = 0.0

    def logbook_text(self) -> str:
        """The logbook's counts as a sentence (never a Python dict on a screen)."""
        lb = self.logbook
        return (f"{plural(lb['devices'], 'device')}, {plural(lb['pixels'], 'pixel')}, "
                f"{plural(lb['events'], 'connection event')} new, {plural(lb['rows_skipped'], 'row')} left out")

    def to_json(self) -> dict:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        return data


def summary_csv(summary: ImportSummary, path: Path) -> None:
    """Everything the summary page shows, as CSV (one line per file, problem and skipped file)."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "file", "line", "kind", "inserted", "duplicates", "bad_lines", "blank_lines", "status",
                    "reason"])
        for o in summary.outcomes:
            w.writerow(["file", o.file, "", o.kind, o.inserted, o.duplicates, o.bad_lines, o.blank_lines, o.status,
                        o.message])
        for p in summary.problems:
            w.writerow(["problem", p.file, p.line or "", "", "", "", "", "", "", p.reason])
        for s in summary.skipped_files:
            w.writerow(["skipped", s["file"], "", "", "", "", "", "", "skipped", s["reason"]])


@dataclass(frozen=True)
class ImportRun:
    """One import as its parts share it, one object instead of a dozen parameters: where it loads
    (``conninfo``), what was asked (``opts``), where the results go (``summary``, ``state``), whom to
    tell (``on_chunk`` after each committed chunk, ``progress`` after each file) and when to stop
    (``cancel``). Frozen: a part that needs its own callback or flag (a parallel loader counts under
    its lock and also stops when another loader failed) makes a copy with ``dataclasses.replace``."""

    conninfo: str
    opts: ImportOptions
    summary: ImportSummary
    state: Progress
    on_chunk: Callable[[int, int], None]
    cancel: Cancel
    progress: Callable[[Progress], None] | None = None

    def report(self) -> None:
        """The progress so far to whoever asked for it."""
        if self.progress is not None:
            self.progress(self.state)
