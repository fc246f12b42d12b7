"""Alarm rules and overview states on the live store (no Qt, no database)."""

from __future__ import annotations

from perocube_desktop.config import AlarmSettings
from perocube_desktop.status import IngestStatus
from perocube_desktop.monitor.alarms import AlarmEngine
from perocube_desktop.monitor.live import LiveStore
from perocube_desktop.monitor.overview import ALARM, IDLE, LIVE, STALE, Known, Occupant, build_tiles
from perocube_desktop.protocol import Sample
from perocube_desktop.series_key import SeriesKey

K = SeriesKey.parse  # "mpp:1/3" -> the key


T = 1_700_000_000.0


def feed(store, key_kind="mpp", n=60, power=5.0, last=None, board=1, channel=1, sensor=None, t0=T):
    samples = []
    for i in range(n):
        p = last if (last is not None and i == n - 1) else power
        if key_kind == "mpp":
            samples.append(Sample("mpp", int((t0 + i) * 1e6), p, 5.0, 1.0, board=board, channel=channel))
        else:
            samples.append(Sample(key_kind, int((t0 + i) * 1e6), p, sensor=sensor))
    store.add(samples)


def status(down_since=None):
    return IngestStatus("x", 0, 0, 0, 0, 0, "reconnecting" if down_since else "connected", "timeout" if down_since else None,
                        down_since, 0)


def test_power_drop_only_while_lit_and_ack():
    s = AlarmSettings(power_drop_pct=30, light_threshold_wm2=500, stale_after_s=120)
    store = LiveStore(capacity=100)
    feed(store, "irradiance", n=60, power=1000.0, sensor="g")
    feed(store, n=60, power=5.0, last=3.0)
    eng = AlarmEngine(s)
    raised = eng.evaluate(store, status(), now=T + 60)
    assert [(a.key, a.rule) for a in raised] == [(K("mpp:1/1"), "power_drop")]
    assert "40 % below" in raised[0].text
    eng.acknowledge((K("mpp:1/1"), "power_drop"))
    assert eng.evaluate(store, status(), now=T + 61) == []  # still firing, acknowledged, not raised again
    # lamps off: no power-drop alarm
    store2 = LiveStore(capacity=100)
    feed(store2, "irradiance", n=60, power=2.0, sensor="g")
    feed(store2, n=60, power=5.0, last=0.01)
    assert AlarmEngine(s).evaluate(store2, status(), now=T + 60) == []


def test_stale_temperature_and_database_alarms_and_tiles():
    s = AlarmSettings(stale_after_s=30, temperature_max_c=50, db_unreachable_min=5)
    store = LiveStore()
    feed(store, n=5, board=1, channel=1)
    feed(store, n=5, board=1, channel=2, t0=T + 100)
    feed(store, "temperature", n=3, power=55.0, sensor="t1", t0=T + 100)
    eng = AlarmEngine(s)
    raised = {(a.key, a.rule) for a in eng.evaluate(store, status(down_since=T - 400), now=T + 106)}
    assert raised == {(K("mpp:1/1"), "stale"), (K("temperature:t1"), "temperature"), ("database", "database")}
    known = Known([(1, 1), (1, 2), (1, 3), (2, 1)], {K("mpp:2/1"): Occupant("DEV", "A")}, {K("temperature:t1"): "m7004_ID_X"})
    tiles = {t.key: t for t in build_tiles(known, store, eng, 30, T + 106)}
    assert tiles[K("mpp:1/1")].state == ALARM and tiles[K("mpp:1/2")].state == LIVE
    assert tiles[K("mpp:1/3")].state == IDLE  # nothing connected, no data
    assert tiles[K("mpp:2/1")].state == STALE  # a pixel sits there but no data arrives
    assert tiles[K("temperature:t1")].label == "m7004_ID_X" and tiles[K("temperature:t1")].state == ALARM
    # the database came back: its alarm clears; after acknowledging it disappears
    eng.evaluate(store, status(), now=T + 107)
    assert not eng.alarms[("database", "database")].active
    eng.acknowledge(("database", "database"))
    assert ("database", "database") not in eng.alarms
