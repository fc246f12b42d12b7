"""Ageing runs: a pixel's data split where a gap is longer than the data before it. Pure numpy.

A channel reused for another experiment, or an old import next to new live data, leaves one
pixel with two blocks of data years apart. Figures of merit computed across that gap (T80 at
"14162 h") describe nothing that happened. A gap longer than the run's data before it (and
longer than :data:`RUN_GAP_MIN_S`, so that a VI restart after a few minutes, or one night after
a few hours of data, does not split anything) starts a new run; shorter gaps stay inside the run
(the device kept ageing while nothing was logged) and are listed as gaps.
"""

from __future__ import annotations

from typing import Union

import numpy as np

RUN_GAP_MIN_S = 24 * 3600.0  # a gap shorter than a day never splits a run
SAMPLE_S = 60.0  # 1-minute buckets: a sample covers one minute

RunChoice = Union[str, int]  # "latest", "all" or a 1-based run number


def split_runs(t: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``[a, b)`` of the runs in sorted minute centres ``t``."""
    if t.size == 0:
        return []
    runs = []
    a = 0
    gaps = np.flatnonzero(np.diff(t) > RUN_GAP_MIN_S)
    for i in gaps:
        gap = float(t[i + 1] - t[i]) - SAMPLE_S
        before = float(t[i] - t[a]) + SAMPLE_S
        if gap > before:
            runs.append((a, int(i) + 1))
            a = int(i) + 1
    runs.append((a, int(t.size)))
    return runs


def parse_run(text: str | int) -> RunChoice:
    """``latest``, ``all`` or a run number from 1 (the oldest); ValueError naming the choices."""
    if isinstance(text, int):
        value = text
    else:
        low = str(text).strip().lower()
        if low in ("latest", "all"):
            return low
        try:
            value = int(low)
        except ValueError:
            raise ValueError(f"--run {text!r}: use latest, all or a run number (1 = the oldest)") from None
    if value < 1:
        raise ValueError(f"--run {text!r}: run numbers start at 1 (the oldest run)")
    return value


def pick(n_runs: int, run: RunChoice) -> list[int]:
    """Indices of the runs to report (empty when the pixel has no run ``run``)."""
    if n_runs == 0:
        return []
    if run == "all":
        return list(range(n_runs))
    if run == "latest":
        return [n_runs - 1]
    assert isinstance(run, int)
    return [run - 1] if run <= n_runs else []


def describe_choice(run: RunChoice) -> str:
    return {"latest": "the latest ageing run of each pixel", "all": "every ageing run of each pixel"}.get(
        str(run), f"ageing run {run} of each pixel")


def time_groups(px: list) -> list[list]:
    """The device's results with data, grouped so that no page spans a gap longer than its data
    (runs years apart get a page each: the plots show the data, not the gap); input order kept."""
    groups: list[list] = []
    for p in sorted((p for p in px if p.has_data), key=lambda p: p.start):
        if groups:
            g0, g1 = min(q.start for q in groups[-1]), max(q.end for q in groups[-1])
            if p.start - g1 <= max(g1 - g0, RUN_GAP_MIN_S):
                groups[-1].append(p)
                continue
        groups.append([p])
    order = {id(p): i for i, p in enumerate(px)}  # identity: results hold arrays, never compared
    return [sorted(g, key=lambda p: order[id(p)]) for g in groups]
