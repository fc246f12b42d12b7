"""SeriesKey: the one home of series keys (text form for settings and messages, parsed back)."""

import pytest

from perocube_desktop.protocol import Sample
from perocube_desktop.series_key import SeriesKey


def test_text_form_and_back():
    mpp = SeriesKey.mpp(1, 3)
    temp = SeriesKey.of_sensor("temperature", "0f8e2c1a-0000-4000-8000-000000000001")
    assert str(mpp) == "mpp:1/3" and mpp.is_mpp and (mpp.board, mpp.channel, mpp.sensor) == (1, 3, None)
    assert str(temp) == "temperature:0f8e2c1a-0000-4000-8000-000000000001" and not temp.is_mpp
    for key in (mpp, temp, SeriesKey.of_sensor("irradiance", "x")):
        assert SeriesKey.parse(str(key)) == key and hash(SeriesKey.parse(str(key))) == hash(key)
    assert SeriesKey.of(Sample("mpp", 0, 1.0, board=2, channel=16)) == SeriesKey.mpp(2, 16)
    assert SeriesKey.of(Sample("irradiance", 0, 900.0, sensor="s")) == SeriesKey.of_sensor("irradiance", "s")


def test_numeric_order_and_bad_text():
    keys = [SeriesKey.mpp(1, 10), SeriesKey.of_sensor("temperature", "a"), SeriesKey.mpp(1, 2)]
    assert sorted(keys, key=SeriesKey.sort_key)[:2] == [SeriesKey.mpp(1, 2), SeriesKey.mpp(1, 10)]
    for bad in ("mpp:1", "mpp:a/b", "temperature:", "volts:1/2", "1/2", ""):
        with pytest.raises(ValueError, match="not a series key"):
            SeriesKey.parse(bad)
        assert SeriesKey.try_parse(bad) is None
    assert SeriesKey.try_parse(3) is None
    with pytest.raises(ValueError):
        SeriesKey.of_sensor("mpp", "x")
