"""Wire protocol rules, without sockets or database."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from perocube_desktop.protocol import (LineFramer, parse_line, parse_timestamp, temperature_sensor_uuid,
                                       irradiance_sensor_uuid)

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
    # repeated hour at the end of DST: first occurrence; missing hour: does not crash
    assert parse_timestamp("2024-10-27T02:30:00", berlin) == us(datetime(2024, 10, 27, 0, 30, tzinfo=UTC))
    parse_timestamp("2024-03-31T02:30:00", berlin)
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
