"""Issue #20: property-based tests (hypothesis) over the importer's line parser and the receiver's
framing and parsing, with random and hostile input: truncated, binary, huge, nested, wrong types,
wrong encodings, NaN/Infinity, timestamps far in the past and the future.

For any input: no exception escapes; every line or object ends as stored, quarantined with a
reason, or counted blank; and the counts add up. Pure code paths (no sockets): the same functions
the receiver's connections and the import engine call. The import engine is also run end to end on
generated files against the real database (fewer examples: each is a real import)."""

from __future__ import annotations

import json
import logging
import math
import random
import re
import tempfile
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from perocube_desktop.framing import LINE, RequestFramer
from perocube_desktop.importer import lines as lines_mod

FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# --- values, good and hostile ------------------------------------------------------------------------

TIMESTAMPS = st.one_of(
    st.floats(min_value=1.5e9, max_value=1.9e9),  # plausible epoch seconds
    st.sampled_from([0, -1, -62135596800, 253402300799, 1e18, 1e30, -1e30, 2**63, "yesterday", "",
                     "2024-02-30T00:00:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00", "2024-05-03T12:00:00+14:00",
                     "2024-05-03 12:00:00,5", "2024-05-03T12:00:00.123456789"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=30),
    st.none(), st.booleans(), st.lists(st.integers(), max_size=3),
)
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**70), max_value=2**70),
                    st.none(), st.text(max_size=8), st.booleans(), st.just({}), st.just([1, 2]))
JSON_ANY = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                        max_leaves=20)


@st.composite
def mpp_message(draw) -> tuple[dict, int]:
    """An MPP message (single or batch) with any values; (message, rows in it)."""
    def row():
        r = {"timestamp": draw(TIMESTAMPS), "power": draw(NUMBERS)}
        if draw(st.booleans()):
            r.update(current=draw(NUMBERS), voltage=draw(NUMBERS))
        return r
    meta = {"board": draw(st.one_of(st.integers(-5, 300), NUMBERS)), "channel": draw(st.one_of(st.integers(-5, 40), NUMBERS))}
    if draw(st.booleans()):
        return {"type": "mpp", "data": row(), "metadata": meta}, 1
    rows = [dict(row(), channel=draw(st.integers(0, 40))) for _ in range(draw(st.integers(0, 6)))]
    return {"type": "mpp", "data": rows, "metadata": {"board": meta["board"]}}, len(rows)


@st.composite
def sensor_message(draw) -> tuple[dict, int]:
    kind = draw(st.sampled_from(["temperature", "irradiance"]))
    data = {"timestamp": draw(TIMESTAMPS), kind: draw(NUMBERS)}
    if kind == "irradiance":
        data["raw_reading"] = draw(NUMBERS)
    meta = draw(st.sampled_from([{"sensor_identifier": "m7004_ID_ABC"}, {"sensor_id": "not-a-uuid"}, {},
                                 {"sensor_identifier": "PT-104", "channel": 1}, {"sensor_id": None}]))
    return {"type": kind, "data": data, "metadata": meta}, 1


def _dumps(obj) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


@st.composite
def line_item(draw) -> tuple[str, bytes, int | None]:
    """(what, one line without its line ending, rows if it is a message)."""
    what = draw(st.sampled_from(["mpp", "sensor", "ping", "json", "truncated", "binary", "nested", "huge",
                                 "latin1", "utf16", "blank"]))
    if what in ("mpp", "sensor"):
        msg, n = draw(mpp_message() if what == "mpp" else sensor_message())
        if draw(st.booleans()):
            msg["id"] = draw(st.one_of(st.integers(), st.text(max_size=10)))
        return what, _dumps(msg), n
    if what == "ping":
        return what, b'{"type": "ping"}', None
    if what == "json":
        return what, _dumps(draw(JSON_ANY)), None
    if what == "truncated":
        msg, _ = draw(mpp_message())
        text = _dumps(msg)
        return what, text[: draw(st.integers(1, max(1, len(text) - 1)))], None
    if what == "binary":
        return what, draw(st.binary(min_size=1, max_size=200)).replace(b"\n", b"\x00") or b"\x00", None
    if what == "nested":
        depth = draw(st.integers(1, 3000))
        return what, b"[" * depth + b"]" * draw(st.sampled_from([0, depth])), None
    if what == "huge":
        return what, b'{"type": "mpp", "data": "' + b"x" * 5000 + b'"}', None
    if what in ("latin1", "utf16"):
        text = json.dumps({"type": "mpp", "data": {"timestamp": "2024-05-03T00:00:00", "power": 1},
                           "metadata": {"board": 1, "channel": 1, "note": "Zürich µW °C"}}, ensure_ascii=False)
        return what, text.encode("latin-1" if what == "latin1" else "utf-16"), None
    return what, draw(st.sampled_from([b"", b"   ", b"\r", b"\t \r"])), None


def _chunks(data: bytes, rnd: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rnd.choice([1, 2, 7, 64, 1000, 1 << 16])
        out.append(data[i:i + n])
        i += n
    return out


@pytest.fixture
def receiver():
    """The receiver's request parser (each connection hands it its frames), with the receiver's
    counters; a small request limit makes "huge" cheap."""
    from datetime import timezone

    from perocube_desktop.ingest.counters import ReceiverCounters
    from perocube_desktop.ingest.request_parser import RequestParser

    return RequestParser(ReceiverCounters(), timezone.utc, 4096, True, logging.getLogger("test.receiver"))


@settings(FAST, max_examples=60)
@given(items=st.lists(line_item(), max_size=25), seed=st.integers(0, 2**32))
def test_every_line_sent_is_answered_stored_quarantined_or_blank(receiver, items, seed):
    """Line protocol (the first request a ping, so the framing is decided), any segmentation."""
    stream = b'{"type": "ping"}\n' + b"".join(line + b"\n" for _, line, _ in items)
    framer = RequestFramer(receiver.max_line_bytes)
    frames = []
    for chunk in _chunks(stream, random.Random(seed)):
        frames += framer.feed(chunk)
    rest, unfinished = framer.close()
    frames += rest
    assert framer.mode == LINE and unfinished == b""
    blank = [what for what, line, _ in items if len(line) <= receiver.max_line_bytes and not line.strip(b" \t\r\x0b\x0c")]
    assert len(frames) == 1 + len(items) - len(blank)  # every non-blank line is one request, blank ones counted
    refused_before, refused = receiver.counters.lines_refused, 0
    non_blank = [(what, n) for what, line, n in items
                 if len(line) > receiver.max_line_bytes or line.strip(b" \t\r\x0b\x0c")]
    for (what, n), frame in zip([("ping", None), *non_blank], frames):
        requests, quarantined = receiver.parse([frame], "127.0.0.1:1")
        assert requests  # every request line is answered (a line of several objects: one answer each)
        errors = [r for r in requests if r.kind == "error"]
        refused += len(errors)
        # quarantined: every refused request and every refused row, each with its reason
        assert len(quarantined) == len(errors) + sum(len(r.rejected) for r in requests)
        assert all(reason.strip() for *_, reason in quarantined)
        assert all(r.error_code and r.error_reason for r in errors)
        if what in ("mpp", "sensor", "ping"):  # one well-formed object: one request
            (req,) = requests
            assert req.kind in ("data", "error", "ping"), req
            if req.kind == "data" and n is not None:  # every row of it stored or quarantined
                assert req.accepted + len(req.rejected) == n, (what, req)
        for req in requests:
            if req.kind == "data" and req.data_type == "mpp":  # what is stored: COPY text, a line per row
                assert req.mpp_copy.count("\n") == req.accepted
            reply = req.reply(True)
            assert reply.endswith(b"\r\n") and reply.split()[0] in (b"ACK", b"ERR", b"PONG")
            assert req.reply(False) in (b"ACK", b"ERR")
    assert receiver.counters.lines_refused - refused_before == refused


@settings(FAST, max_examples=100)
@given(values=st.lists(st.one_of(mpp_message().map(lambda m: m[0]), JSON_ANY.filter(lambda v: isinstance(v, dict))),
                       min_size=1, max_size=15),
       seps=st.lists(st.sampled_from([b"", b" ", b"\t", b"  "]), min_size=15, max_size=15),
       seed=st.integers(0, 2**32))
def test_bare_objects_like_the_vis_are_each_one_request(receiver, values, seps, seed):
    """The VIs' framing: bare JSON objects, no line endings, 3-byte replies."""
    stream = b"".join(_dumps(v) + sep for v, sep in zip(values, seps))
    framer = RequestFramer(1 << 20)
    frames = []
    for chunk in _chunks(stream, random.Random(seed)):
        frames += framer.feed(chunk)
        if framer.awaiting_decision:  # what the connection does when nothing followed the first request
            frames += framer.decide("raw")
    rest, unfinished = framer.close()
    frames += rest
    assert unfinished == b"" and len(frames) == len(values)
    requests, quarantined = receiver.parse(frames, "127.0.0.1:1")
    assert len(requests) == len(values)
    assert len(quarantined) == sum(1 for r in requests if r.kind == "error") + sum(len(r.rejected) for r in requests)
    assert all(r.reply(False) in (b"ACK", b"ERR") for r in requests)


@FAST
@given(data=st.binary(max_size=3000), seed=st.integers(0, 2**32), first_line=st.booleans())
def test_any_bytes_are_framed_without_loss_or_exception(receiver, data, seed, first_line):
    """Random bytes, random segmentation: the framer and parser never raise, nothing is held forever,
    and whatever is refused is quarantined with a reason."""
    stream = (b'{"type": "ping"}\n' if first_line else b"") + data
    framer = RequestFramer(receiver.max_line_bytes)
    frames = []
    for chunk in _chunks(stream, random.Random(seed)):
        frames += framer.feed(chunk)
        if framer.awaiting_decision:
            frames += framer.decide("raw")
    rest, unfinished = framer.close()
    frames += rest
    requests, quarantined = receiver.parse(frames, "127.0.0.1:1", unfinished)
    assert len(quarantined) >= sum(1 for r in requests if r.kind == "error") + sum(len(r.rejected) for r in requests)
    assert all(reason.strip() for *_, reason in quarantined)
    if unfinished:  # an unfinished request at the close is quarantined whole, not dropped
        assert any(text == unfinished.decode("utf-8", "replace") or unfinished.decode("utf-8", "replace") in text
                   for _, _, text, _ in quarantined)


# --- the importer's line parser ------------------------------------------------------------------------

KIND_FIELDS = {"mpp": 3, "temperature": 1, "irradiance": 2}
FIELD = st.one_of(
    st.sampled_from([b"1.5", b"-0.25", b"1e-3", b"NaN", b"nan", b"Infinity", b"-inf", b"INF", b"", b"40200.0", b"40200.5",
                     b"1e999", b"-1e309", b"12", b"0x10", b"1,5", b"\xff\xfe", b"\x00", b"\r", b" 1", b"1.7976931348623157e308"]),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
    st.binary(max_size=6).map(lambda b: b.replace(b"\n", b"")),
)
STAMP = st.one_of(
    st.sampled_from([b"2024-05-03T00:00:00", b"2024-05-03 00:00:00", b"2024-05-03T00:00:00.379", b"2024-05-03T00:00:00,5",
                     b"2024-05-03T00:00:00Z", b"2024-05-03T00:00:00+02:00", b"0001-01-01T00:00:00", b"9999-12-31T23:59:59",
                     b"2024-02-30T00:00:00", b"2024-13-01T00:00:00", b"1970-01-01T00:00:00", b"2024-05-03T25:61:61",
                     b"yesterday", b"", b"2024-05-03T00:00"]),
    st.datetimes().map(lambda d: d.isoformat().encode()),
)


@st.composite
def file_line(draw, kind: str) -> bytes:
    shape = draw(st.sampled_from(["row", "row", "row", "fields", "blank", "binary", "huge", "crlf"]))
    if shape in ("row", "crlf"):
        line = b"\t".join([draw(STAMP), *(draw(FIELD) for _ in range(KIND_FIELDS[kind]))])
        return line + (b"\r" if shape == "crlf" else b"")
    if shape == "fields":
        return b"\t".join(draw(FIELD) for _ in range(draw(st.integers(0, 7))))
    if shape == "blank":
        return draw(st.sampled_from([b"", b" ", b"\t", b"\r", b"  \t "]))
    if shape == "huge":
        return b"2024-05-03T00:00:00\t" + b"9" * draw(st.integers(400, 5000))
    return draw(st.binary(max_size=80)).replace(b"\n", b"")


@st.composite
def file_body(draw) -> tuple[str, list[bytes]]:
    kind = draw(st.sampled_from(list(KIND_FIELDS)))
    return kind, draw(st.lists(file_line(kind), max_size=40))


_BLANK = re.compile(rb"^\s*$")


@settings(FAST, max_examples=200)
@given(body=file_body(), first_line=st.integers(1, 10**6), keep_bad=st.integers(0, 50))
def test_every_file_line_is_good_bad_with_a_reason_or_blank(body, first_line, keep_bad):
    kind, raw_lines = body
    chunk = b"".join(line + b"\n" for line in raw_lines)
    out = lines_mod.clean(kind, chunk, first_line, keep_bad)
    assert out.lines == len(raw_lines)
    assert out.good + out.bad_count + out.blank == out.lines  # the counts add up
    assert out.data.count(b"\n") == out.good and (not out.data or out.data.endswith(b"\n"))
    # blank means nothing but whitespace (a CR-only line too); a line with content is never "blank"
    assert out.blank == sum(1 for line in raw_lines if _BLANK.match(line.replace(b"\r", b"")) and line.strip() == b"")
    assert len(out.bad) == min(out.bad_count, keep_bad)
    for bad in out.bad:
        assert bad.reason and first_line <= bad.line < first_line + len(raw_lines)
        assert raw_lines[bad.line - first_line].strip() != b""  # a bad line has content
    # every kept row has the kind's columns; what the server still refuses in them (a 30 February) the
    # loader finds and quarantines: test_import_stores_or_quarantines_every_line
    assert all(good.count(b"\t") == KIND_FIELDS[kind] for good in out.data.splitlines())


@pytest.mark.parametrize("kind", list(KIND_FIELDS))
def test_nan_and_infinity_become_empty_fields_not_refusals(kind):
    row = b"2024-05-03T00:00:00\t" + b"\t".join([b"NaN"] * (KIND_FIELDS[kind] - 1) + [b"1.5"]) + b"\n"
    out = lines_mod.clean(kind, row + b"2024-05-03T00:00:01\t" + b"\t".join([b"Infinity"] * KIND_FIELDS[kind]) + b"\n")
    assert out.good == 1 and out.bad_count == 1 and out.bad[0].reason.startswith("no values")
    assert b"NaN" not in out.data and not math.isnan(float(out.data.split(b"\t")[-1]))


# --- the import engine end to end, against the real database --------------------------------------------


@pytest.fixture(scope="module")
def import_db(pg_server):
    import conftest

    name = conftest._create(pg_server, conftest.TEMPLATE)
    yield pg_server.url(name)
    conftest._drop(pg_server, name)


_examples = iter(range(1, 10**6))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(body=file_body(), cut=st.booleans())
def test_import_stores_or_quarantines_every_line(import_db, body, cut):
    """Each example a new file on a board of its own: inserted + duplicates + bad + blank + a cut last line
    = lines; the database holds the inserted rows and the quarantine one row per bad line."""
    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.importer.results import ImportOptions

    kind, raw_lines = body
    assume(raw_lines or cut)  # an empty file is skipped as such (and a folder of nothing but that refused)
    n = next(_examples)
    name = {"mpp": f"output_board{n}_channel1.txt", "temperature": f"m7004_ID_{n:X}.txt",
            "irradiance": f"SENS{n}_channel_01.txt"}[kind]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        content = b"".join(line + b"\n" for line in raw_lines)
        if cut:
            content += b"2024-05-03T00:00"  # LabVIEW still writing the last line
        (data / name).write_bytes(content)
        with psycopg.connect(import_db) as conn:
            quarantined_before = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        summary = run_import(import_db, Path(tmp), ImportOptions(include_logbook=False))
        with psycopg.connect(import_db) as conn:
            quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] - quarantined_before
            assert conn.execute("SELECT count(*) FROM quarantine WHERE reason = ''").fetchone()[0] == 0
    (out,) = summary.outcomes
    assert out.inserted + out.duplicates + out.bad_lines + out.blank_lines + out.incomplete_last_line == out.lines
    assert out.lines == len(raw_lines) + (1 if cut else 0) and out.incomplete_last_line == (1 if cut else 0)
    assert out.bad_lines == quarantined  # each refused line is in the quarantine, with its reason
    assert summary.lines == summary.bad_lines + summary.blank_lines + summary.incomplete_lines \
        + sum(summary.inserted.values()) + sum(summary.duplicates.values())


@pytest.mark.parametrize("lines", [
    # the refresh window's end overflowed Python's dates
    "9999-12-31T23:59:59\t1.5\t1\t1\n2024-05-03T00:00:00\t1\t1\t1\n",
    # a window ending at Python's last instant is shorter than the last hour bucket of 9999, which
    # TimescaleDB refuses ("refresh window too small"): refreshed with an open end
    "9999-12-31T23:30:00\t1.5\t1\t1\n",
], ids=["last-minute-with-2024", "alone-in-the-last-hour"])
def test_rows_in_the_last_bucket_of_9999_are_stored_and_their_rollups_refreshed(db_url, tmp_path, lines):
    """Found by the property above on TimescaleDB."""
    from perocube_desktop.importer.engine import run_import

    data = tmp_path / "lab" / "data"
    data.mkdir(parents=True)
    (data / "output_board9_channel1.txt").write_text(lines)
    summary = run_import(db_url, tmp_path / "lab")
    assert summary.inserted["mpp"] == lines.count("\n")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT sum(n) FROM perocube_mpp_rollup('1 hour', ARRAY[9], ARRAY[1], "
                            "'-infinity', 'infinity')").fetchone()[0] == lines.count("\n")
