"""Find and classify the lab's files under a root folder (docs/lab-files.md)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import UserError
from ..protocol import irradiance_sensor_uuid, temperature_sensor_uuid

# as the lab's upload tools: searched anywhere in the name, whatever the extension or suffix
# (`output_board2_channel4_part2.txt`, `output_board03_channel04.txt`, `output_board2_channel3.csv`)
MPP_FILE = re.compile(r"output_board(\d+)_channel(\d+)", re.IGNORECASE)
TEMPERATURE_FILE = re.compile(r"^(m7004_ID_[0-9A-Fa-f]+)\.txt$")  # any length of hex
IRRADIANCE_FILE = re.compile(r"^(.+)_channel_(\d+)\.txt$", re.IGNORECASE)


@dataclass
class LabFile:
    path: Path
    rel: str
    kind: str  # mpp | temperature | irradiance | logbook
    size: int
    mtime_ns: int
    board: int | None = None
    channel: int | None = None
    sensor_identifier: str | None = None
    sensor_channel: int | None = None

    @property
    def sensor_id(self) -> str | None:
        if self.kind == "temperature":
            assert self.sensor_identifier is not None, "classify() sets it for every temperature file"
            return str(temperature_sensor_uuid(self.sensor_identifier))
        if self.kind == "irradiance":
            assert self.sensor_identifier is not None and self.sensor_channel is not None, \
                "classify() sets both for every irradiance file"
            return str(irradiance_sensor_uuid(self.sensor_identifier, self.sensor_channel))
        return None

    @property
    def target(self) -> str:
        """board/channel or sensor, for tables and reports."""
        if self.kind == "mpp":
            return f"{self.board}/{self.channel}"
        if self.kind == "irradiance":
            return f"{self.sensor_identifier} ch {self.sensor_channel}"
        return self.sensor_identifier or ""


@dataclass
class Skipped:
    rel: str
    reason: str


@dataclass
class ScanResult:
    root: Path
    files: list[LabFile]
    skipped: list[Skipped]


def classify(name: str) -> tuple[str, dict] | None:
    if m := MPP_FILE.search(name):
        return "mpp", {"board": int(m.group(1)), "channel": int(m.group(2))}
    if m := TEMPERATURE_FILE.match(name):
        return "temperature", {"sensor_identifier": m.group(1)}
    if m := IRRADIANCE_FILE.match(name):
        return "irradiance", {"sensor_identifier": m.group(1), "sensor_channel": int(m.group(2))}
    if name.lower().endswith((".xlsx", ".xlsm")) and not name.startswith("~$"):
        return "logbook", {}
    return None


def _is_data(folder: str) -> bool:
    return folder.lower().startswith("data")


#: what a lab folder holds (spec/lab-files.md), for the messages that say a folder holds none of it
EXPECTED_FILES = ("data*/output_boardN_channelM…, data*/m7004_ID_….txt, data*/…_channel_N.txt, "
                  "a logbook .xlsx")


class ImportFolderError(UserError):
    """The folder is not one to import: empty or relative text, missing, not a folder, no lab file in it."""


def check_folder(text: str | None, relative_ok: bool = False) -> Path:
    """The folder an operator typed or picked, as an absolute path; ImportFolderError (one line) if it
    is no folder to import. Empty text is never one (``Path("")`` is the current folder); a relative
    path only where the caller has a current folder the user chose (``relative_ok``: the command
    line's working folder; never the GUI's, which is wherever the app was started from)."""
    raw = (text or "").strip()
    if not raw:
        raise ImportFolderError("no folder given: choose the lab folder that holds the data* folders "
                                "(or the logbook workbook)")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        if not relative_ok:
            raise ImportFolderError(f"{raw!r} is not a full path: choose the lab folder with Browse… "
                                    "or type its full path")
        path = Path.cwd() / path
    if not path.exists():
        raise ImportFolderError(f"{path} is not a folder (it does not exist): check the path")
    if not path.is_dir():
        raise ImportFolderError(f"{path} is not a folder: choose the folder that holds the data* folders")
    return path


def no_lab_files(result: ScanResult) -> str | None:
    """None when the scan found a lab file to import; else one line saying what was expected and,
    when it explains it, why what was there does not count."""
    if result.files:
        return None
    why = ""
    outside = [s for s in result.skipped if s.reason.startswith("not inside")]
    empty = [s for s in result.skipped if s.reason == "empty file"]
    if outside:
        why = f" ({len(outside)} file(s) named like lab files are not inside a data* folder, e.g. {outside[0].rel})"
    elif empty:
        why = f" ({len(empty)} matching file(s) are empty, e.g. {empty[0].rel})"
    return (f"no lab data files found under {result.root}: expected {EXPECTED_FILES}{why}; "
            "choose the folder that holds them")


def require_lab_files(result: ScanResult) -> None:
    if (problem := no_lab_files(result)) is not None:
        raise ImportFolderError(problem)


def scan(root: Path, progress: Callable[[int, int], None] | None = None) -> ScanResult:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    files: list[LabFile] = []
    skipped: list[Skipped] = []
    found = 0
    # a file counts when any folder of its full path starts with "data": below the picked folder,
    # the picked folder itself, or a folder above it (docs/lab-files.md)
    above = any(_is_data(part) for part in root.resolve().parts)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        rel_parts = here.relative_to(root).parts
        in_data = above or any(_is_data(part) for part in rel_parts)
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            found += 1
            if progress and found % 100 == 0:
                progress(found, 0)
            kind_info = classify(name)
            if kind_info is None:
                skipped.append(Skipped(rel, "name matches no lab file pattern"))
                continue
            kind, info = kind_info
            try:
                stat = path.stat()
                with open(path, "rb"):
                    pass
            except OSError as exc:
                skipped.append(Skipped(rel, f"unreadable: {exc.strerror}"))
                continue
            if kind != "logbook" and not in_data:
                skipped.append(Skipped(rel, "not inside a data* folder (old copy or scratch)"))
                continue
            if stat.st_size == 0:
                skipped.append(Skipped(rel, "empty file"))
                continue
            files.append(LabFile(path.resolve(), rel, kind, stat.st_size, stat.st_mtime_ns, **info))
    return ScanResult(root, files, skipped)
