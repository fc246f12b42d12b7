"""The three kinds of time series and the lab's tables that hold them: the one declaration that
the importer, the writer, the plots' history, the reports and the read API share (no other kind ->
table map). The kinds' names are ``protocol.KINDS`` (the wire's ``type``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import IRRADIANCE, MPP, TEMPERATURE


@dataclass(frozen=True)
class SeriesKind:
    name: str  # "mpp" | "temperature" | "irradiance"
    table: str  # the lab's hypertable
    columns: tuple[str, ...]  # column order of the files and of COPY
    id_columns: tuple[str, ...]  # what names one series (a tracking channel, a sensor)
    fields: tuple[str, ...]  # measured values that the rollups aggregate (mean/min/max)

    def rollup(self, width: str) -> str:
        """``mpp_rollup_1m`` etc. (``width`` is "1m" or "1h")."""
        return f"{self.name}_rollup_{width}"


KINDS: dict[str, SeriesKind] = {
    k.name: k
    for k in (
        SeriesKind(MPP, "mpp_measurement",
                   ("timestamp", "power", "current", "voltage", "tracking_channel_board", "tracking_channel_channel"),
                   ("tracking_channel_board", "tracking_channel_channel"), ("power", "voltage", "current")),
        SeriesKind(TEMPERATURE, "temperature_measurement", ("timestamp", "temperature", "temperature_sensor_id"),
                   ("temperature_sensor_id",), ("temperature",)),
        SeriesKind(IRRADIANCE, "irradiance_measurement",
                   ("timestamp", "raw_reading", "irradiance", "irradiance_sensor_id"),
                   ("irradiance_sensor_id",), ("irradiance",)),
    )
}
