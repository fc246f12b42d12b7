"""Wire protocol rules, without sockets or database."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from perocube_desktop.framing import LineFramer
from perocube_desktop.protocol import irradiance_sensor_uuid, parse_line, temperature_sensor_uuid
from perocube_desktop.values import parse_timestamp

UTC = timezone.utc


def us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def test_seed_message_shapes():
    r = parse_line(b'{"type": "mpp", "data": {"timestamp": "2024-05-03T14:07:10Z", "power": 12.31, "current": 13.02,'
                   b' "voltage": 0.945}, "metadata": {"board": 1, "channel": 3}}')
    assert r.reply() == b"ACK 1\r\n"
    s = r.samples[0]
    assert (s.kind, s.a, s.b, s.c, s.board, s.channel) == ("mpp", 12.31, 13.02, 0.945, 1, 3)
    assert s.ts_us == us(datetime(2024, 5, 3, 14, 7, 10, tzinfo=UTC))
    t = parse_line(b'{"type": "temperature", "data": {"timestamp": "2024-05-03T14:07:10Z", "temperature": 41.7},'
                   b' "metadata": {"sensor_identifier": "m7004_ID_37F6F9511A64FF28"}}').samples[0]
    assert t.sensor == str(temperature_sensor_uuid("m7004_ID_37F6F9511A64FF28")) and t.a == 41.7
    i = parse_line(b'{"type": "irradiance", "data": {"timestamp": "2024-05-03T14:07:10Z", "raw_reading": 40213,'
                   b' "irradiance": 998.4}, "metadata": {"sensor_identifier": "PT-104", "channel": 1}}').samples[0]
    assert i.sensor == str(irradiance_sensor_uuid("PT-104", 1)) and (i.a, i.b, i.ichan) == (998.4, 40213, 1)


def test_batch_rows_override_metadata_and_power_is_computed():
    msg = {"type": "mpp", "metadata": {"board": 2, "channel": 1}, "id": 17,
           "data": [{"timestamp": 1714745230, "current": 10.0, "voltage": 0.5},
                    {"timestamp": 1714745230.5, "channel": 4, "power": 3.0, "current": 1, "voltage": 1}]}
    r = parse_line(json.dumps(msg).encode())
    assert r.reply() == b"ACK 2 id=17\r\n"
    a, b = r.samples
    assert (a.channel, a.a) == (1, 5.0) and (b.channel, b.a) == (4, 3.0)
    assert b.ts_us == 1714745230_500000


def test_nan_and_infinity_mean_no_value():
    r = parse_line(b'{"type":"mpp","data":{"timestamp":"2024-05-03T14:07:10Z","power":NaN,"current":Infinity,'
                   b'"voltage":0.9},"metadata":{"board":1,"channel":1}}')
    assert r.samples[0].a is None and r.samples[0].b is None and r.samples[0].c == 0.9
    r = parse_line(b'{"type":"mpp","data":{"timestamp":"2024-05-03T14:07:10Z","power":NaN,"current":NaN,'
                   b'"voltage":-Infinity},"metadata":{"board":1,"channel":1}}')
    assert r.reply() == b"ACK 0 1\r\n" and "no values" in r.rejected[0].reason


def test_naive_time_in_source_zone_with_dst():
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_timestamp("2024-07-01T12:00:00", berlin) == us(datetime(2024, 7, 1, 10, 0, tzinfo=UTC))
    assert parse_timestamp("2024-01-01T12:00:00", berlin) == us(datetime(2024, 1, 1, 11, 0, tzinfo=UTC))
    # as PostgreSQL resolves them (the importer converts files there): a repeated hour at the end of
    # DST takes standard time (the second occurrence), a skipped hour the offset from before the change
    assert parse_timestamp("2024-10-27T02:30:00", berlin) == us(datetime(2024, 10, 27, 1, 30, tzinfo=UTC))
    assert parse_timestamp("2024-03-31T02:30:00", berlin) == us(datetime(2024, 3, 31, 1, 30, tzinfo=UTC))
    new_york = ZoneInfo("America/New_York")
    assert parse_timestamp("2024-11-03T01:30:00", new_york) == us(datetime(2024, 11, 3, 6, 30, tzinfo=UTC))
    assert parse_timestamp("2024-03-10T02:30:00", new_york) == us(datetime(2024, 3, 10, 7, 30, tzinfo=UTC))
    assert parse_timestamp("2024-05-03T14:07:10+02:00", berlin) == us(datetime(2024, 5, 3, 12, 7, 10, tzinfo=UTC))


def test_errors_and_ping():
    assert parse_line(b'{"type": "ping", "id": "a"}').reply() == b"PONG id=a\r\n"
    assert parse_line(b"not json").reply().startswith(b"ERR BAD_JSON ")
    assert parse_line(b"[1, 2]").reply().startswith(b"ERR NOT_OBJECT ")
    assert parse_line(b'{"type": "voltage", "id": 3}').reply().startswith(b"ERR UNKNOWN_TYPE ")
    assert parse_line(b'{"type": "voltage", "id": 3}').reply().endswith(b" id=3\r\n")
    assert parse_line(b"\xff\xfe garbage").reply().startswith(b"ERR BAD_ENCODING ")
    assert parse_line(b"   ").kind == "empty"
    r = parse_line(b'{"type":"temperature","data":[{"timestamp":"x","temperature":1},'
                   b'{"timestamp":"2024-05-03T14:07:10Z","temperature":2},{"timestamp":1,"temperature":3}],'
                   b'"metadata":{"sensor_id":"not-a-uuid"}}')
    assert r.reply() == b"ACK 0 3\r\n"
    assert [x.reason for x in r.rejected][0].startswith("unreadable timestamp")


def test_framer_survives_any_segmentation():
    lines = [b'{"type":"ping","id":%d}' % i for i in range(50)]
    stream = b"\r\n".join(lines) + b"\r\n"
    for size in (1, 3, 7, 64, len(stream)):
        f = LineFramer(1024)
        out = []
        for k in range(0, len(stream), size):
            out += f.feed(stream[k:k + size])
        assert out == lines


def test_framer_skips_overlong_lines_once():
    f = LineFramer(1024)
    out = f.feed(b"a" * 600) + f.feed(b"b" * 600) + f.feed(b"c" * 5000) + f.feed(b"tail\nok\n")
    assert out == [None, b"ok"]
    f = LineFramer(1024)
    assert f.feed(b"x" * 2000 + b"\nfine\n") == [None, b"fine"]


# --- framing: JSON value boundaries, the connection's framing from its first request ------------

from perocube_desktop.framing import LINE, RAW, RequestFramer  # noqa: E402
from perocube_desktop.protocol import parse_frame  # noqa: E402

TRICKY = [
    b'{"type":"ping","id":"a}b{c"}',
    b'{"type": "ping", "id": "quote \\" and backslash \\\\"}',
    b'{"type":"mpp","data":[{"timestamp":1714745230,"power":1.0}],"metadata":{"board":1,"channel":[1]}}',
    b'{"type":"ping","id":"\xc3\xa9\xe2\x82\xac"}',
    b'{\r\n  "type": "ping"\r\n}',
]


def frames_of(framer: RequestFramer, stream: bytes, size: int) -> list[bytes | None]:
    out = []
    for k in range(0, len(stream), size):
        out += [raw for raw, _obj in framer.feed(stream[k:k + size])]
    if framer.awaiting_decision:
        out += [raw for raw, _obj in framer.decide(RAW)]
    frames, rest = framer.close()
    assert rest == b""
    return out + [raw for raw, _obj in frames]


def test_raw_framing_survives_any_segmentation():
    for sep in (b"", b" ", b"\t  "):
        stream = sep.join(TRICKY * 3)
        for size in (1, 2, 5, 13, 64, len(stream)):
            f = RequestFramer(1 << 20)
            assert frames_of(f, stream, size) == TRICKY * 3
            assert f.mode == RAW


def test_line_ending_after_the_first_object_means_line_protocol():
    f = RequestFramer(1 << 20)
    assert [raw for raw, _ in f.feed(b'{"type":"ping"}')] == [b'{"type":"ping"}']
    assert f.awaiting_decision and f.mode is None
    assert f.feed(b"\r\n") == [] and f.mode == LINE  # the line ending came in the next packet
    assert [raw for raw, _ in f.feed(b'{"type":"ping","id":1}\n\n  \n{"a":')] == [b'{"type":"ping","id":1}']
    assert [raw for raw, _ in f.feed(b'1}\r\n')] == [b'{"a":1}']
    f = RequestFramer(1 << 20)
    assert len(f.feed(b'{"type":"ping"}  \r\n{"type":"ping"}\r\n')) == 2 and f.mode == LINE
    f = RequestFramer(1 << 20)
    assert len(f.feed(b'{"type":"ping"}{"type":"ping"}\r\n')) == 2 and f.mode == RAW


def test_unfinished_object_at_close_is_returned_for_quarantine():
    f = RequestFramer(1 << 20)
    f.feed(b'{"type":"ping"} {"type":"mpp","data":{"timest')
    frames, rest = f.close()
    assert frames == [] and rest == b'{"type":"mpp","data":{"timest'
    # line protocol: a complete object without its line ending is still a request
    f = RequestFramer(1 << 20)
    f.feed(b'{"type":"ping"}\n{"type":"ping","id":2}')
    frames, rest = f.close()
    assert [raw for raw, _ in frames] == [b'{"type":"ping","id":2}'] and rest == b""
    f = RequestFramer(1 << 20)
    f.feed(b'{"type":"ping"}\n{"type":"pi')
    assert f.close() == ([], b'{"type":"pi')


def test_objects_over_the_limit_are_skipped_once():
    big = b'{"type":"mpp","data":"' + b"x" * 3000 + b'"}'
    for size in (100, 1000, len(big) + 40):
        f = RequestFramer(1024)
        out = frames_of(f, big + b'{"type":"ping"}' + big + b' {"type":"ping","id":1}', size)
        assert out == [None, b'{"type":"ping"}', None, b'{"type":"ping","id":1}']


def test_garbage_is_one_request_up_to_the_next_object():
    f = RequestFramer(1 << 20)
    f.feed(b'{"type":"ping"}')
    out = f.decide(RAW) + f.feed(b'hello {"type":"ping"}')
    assert [raw for raw, _ in out] == [b"hello ", b'{"type":"ping"}']
    replies = [r.reply(False) for raw, obj in out for r in parse_frame(raw, obj=obj)]
    assert replies == [b"ERR", b"ACK"]


def test_three_byte_replies():
    ok = parse_frame(b'{"type":"mpp","data":[{"timestamp":1714745230,"power":1.0},{"timestamp":"x","power":1}],'
                     b'"metadata":{"board":1,"channel":1}}')[0]
    assert ok.reply(False) == b"ACK" and ok.reply() == b"ACK 1 1\r\n"
    useless = parse_frame(b'{"type":"mpp","data":{"timestamp":"x","power":1},"metadata":{"board":1,"channel":1}}')[0]
    assert useless.reply(False) == b"ERR"
    assert parse_frame(b'{"type":"weather"}')[0].reply(False) == b"ERR"
    assert parse_frame(b'{"type":"ping","id":4}')[0].reply(False) == b"ACK"
    assert parse_frame(None)[0].reply(False) == b"ERR"


def test_several_objects_on_one_line_are_several_requests():
    out = parse_frame(b'{"type":"ping","id":1} {"type":"ping","id":2}{"type":"ping","id":3} oops')
    assert [r.reply() for r in out[:3]] == [b"PONG id=1\r\n", b"PONG id=2\r\n", b"PONG id=3\r\n"]
    assert out[3].reply().startswith(b"ERR BAD_JSON")


def test_fast_mpp_path_matches_the_rules():
    """Batches take a fast path per row; it must accept, convert and reject exactly like ``_sample``."""
    rows = [
        {"timestamp": "2024-05-03T14:07:10Z", "channel": 1, "power": 1.5, "current": 2.0, "voltage": 0.75},
        {"timestamp": "2024-05-03T14:07:10Z", "channel": 2, "power": 1.5, "current": 2.0, "voltage": 0.75},
        {"timestamp": "2024-05-03T16:07:11+02:00", "channel": 3, "power": 1, "current": 2.0, "voltage": 0.75},
        {"timestamp": 1714745231.25, "channel": 4, "current": 2.0, "voltage": 0.5},
        {"timestamp": "2024-05-03T14:07:12", "channel": 5, "power": None, "current": 2.0, "voltage": 0.5},
        {"timestamp": "2024-05-03T14:07:12", "channel": 6, "power": float("nan"), "current": 2.0, "voltage": 0.5},
        {"timestamp": True, "channel": 7, "power": 1.0, "current": 2.0, "voltage": 0.5},
        {"timestamp": 1e30, "channel": 7, "power": 1.0, "current": 2.0, "voltage": 0.5},
        {"timestamp": "2024-05-03T14:07:12", "channel": 1 << 40, "power": 1.0, "current": 2.0, "voltage": 0.5},
        {"timestamp": "2024-05-03T14:07:12", "channel": "8", "power": 1.0, "current": 2.0, "voltage": 0.5},
        {"timestamp": "2024-05-03T14:07:12", "board": True, "channel": 9, "power": 1.0, "current": 2.0, "voltage": 0.5},
        7,
    ]
    r = parse_frame(json.dumps({"type": "mpp", "data": rows, "metadata": {"board": 3}}).encode(),
                    ZoneInfo("Europe/Berlin"))[0]
    got = sorted(((s.ts_us, s.a, s.b, s.c, s.board, s.channel) for s in r.samples), key=str)
    t0 = us(datetime(2024, 5, 3, 14, 7, 10, tzinfo=UTC))
    t1 = us(datetime(2024, 5, 3, 12, 7, 12, tzinfo=UTC))
    assert got == sorted([
        (t0, 1.5, 2.0, 0.75, 3, 1), (t0, 1.5, 2.0, 0.75, 3, 2), (t0 + 1_000_000, 1.0, 2.0, 0.75, 3, 3),
        (1714745231_250000, 1.0, 2.0, 0.5, 3, 4), (t1, None, 2.0, 0.5, 3, 5), (t1, None, 2.0, 0.5, 3, 6),
        (t1, 1.0, 2.0, 0.5, 3, 8),
    ], key=str)
    assert len(r.rejected) == 5 and r.accepted == 7
    lines = r.mpp_copy.splitlines()
    assert lines[0] == "2024-05-03T14:07:10+00:00\t1.5\t2.0\t0.75\t3\t1"
    assert "2024-05-03T12:07:12+00:00\t\\N\t2.0\t0.5\t3\t5" in lines
    headless = parse_frame(json.dumps({"type": "mpp", "data": rows, "metadata": {"board": 3}}).encode(),
                           ZoneInfo("Europe/Berlin"), samples=False)[0]
    assert headless.samples == [] and headless.accepted == 7 and headless.mpp_copy == r.mpp_copy
    assert r.channels == {(3, c) for c in (1, 2, 3, 4, 5, 6, 8)}
    assert (r.t_lo, r.t_hi) == (us(datetime(2024, 5, 3, 12, 7, 12, tzinfo=UTC)), 1714745231_250000)


def test_labview_nan_and_huge_numbers_through_the_framer():
    """The fast JSON parser refuses NaN/Infinity and numbers beyond a double; the rules still apply."""
    msg = (b'{"type":"mpp","data":[{"timestamp":1714745230,"power":NaN,"current":Infinity,"voltage":0.9},'
           b'{"timestamp":1714745231,"power":1e400,"current":2.0,"voltage":0.5}],"metadata":{"board":1,"channel":1}}')
    f = RequestFramer(1 << 20)
    (raw, obj), = f.feed(msg)
    r, = parse_frame(raw, obj=obj)
    assert [(s.a, s.b, s.c) for s in r.samples] == [(None, None, 0.9), (None, 2.0, 0.5)]
    r, = parse_frame(msg + b"\r\n")
    assert r.reply() == b"ACK 2\r\n"


def test_raw_framing_random_segmentation():
    """Seeded random streams of objects (nested, with tricky strings) and separators, cut at
    random places: always the same frames, nothing left over."""
    import random

    rnd = random.Random(11)
    pieces = TRICKY + [json.dumps({"type": "mpp", "data": [{"timestamp": i, "s": "}\"{[\\" * i} for i in range(k)],
                                   "metadata": {"board": k}}).encode() for k in range(1, 6)]
    for _round in range(200):
        objs = [rnd.choice(pieces) for _ in range(rnd.randint(1, 12))]
        stream = b"".join(o + rnd.choice([b"", b" ", b"\t", b"  \t "]) for o in objs)
        f = RequestFramer(1 << 20)
        out = []
        k = 0
        while k < len(stream):
            step = rnd.randint(1, 40)
            out += [raw for raw, _ in f.feed(stream[k:k + step])]
            k += step
        if f.awaiting_decision:
            out += [raw for raw, _ in f.decide(RAW)]
        frames, rest = f.close()
        assert out + [raw for raw, _ in frames] == objs and rest == b""


def test_copy_timestamp_is_isoformat_with_cached_seconds():
    from perocube_desktop.values import MAX_TS_S, MIN_TS_S, copy_timestamp, ts_datetime

    base = 1_714_745_230 * 1_000_000
    values = [0, 1, -1, 999_999, -1_000_000, MIN_TS_S * 1_000_000, MAX_TS_S * 1_000_000 + 999_999]
    values += [base + k for k in (0, 1, 123_000, 999_999, 1_000_000, 1_000_001)] * 2  # the second time cached
    for us in values:
        assert copy_timestamp(us) == ts_datetime(us).isoformat(), us
