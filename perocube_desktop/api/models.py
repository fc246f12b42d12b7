"""Response models and query enums of the read API (the OpenAPI description; the JSON itself is
built by PostgreSQL and must match these)."""

import uuid
from datetime import date, datetime
from enum import Enum

from pydantic import BaseModel


class MppRow(BaseModel):
    timestamp: datetime
    current: float | None
    voltage: float | None
    power: float | None
    tracking_channel_board: int
    tracking_channel_channel: int


class TemperatureRow(BaseModel):
    timestamp: datetime
    temperature: float | None
    temperature_sensor_id: uuid.UUID


class IrradianceRow(BaseModel):
    timestamp: datetime
    raw_reading: int | None
    irradiance: float | None
    irradiance_sensor_id: uuid.UUID


class _Page(BaseModel):
    total: int
    total_exact: bool
    page: int
    page_size: int


class MppPage(_Page):
    data: list[MppRow]


class TemperaturePage(_Page):
    data: list[TemperatureRow]


class IrradiancePage(_Page):
    data: list[IrradianceRow]


class Health(BaseModel):
    status: str
    timestamp: datetime
    database: str
    timescaledb: bool | None
    version: str
    database_error: str | None = None
    database_server: str | None = None  # host:port the API reads from
    standby: bool | None = None  # true: a read replica (hot standby)
    replica_lag_s: float | None = None  # a standby's replay lag behind the primary, seconds


class Device(BaseModel):
    name: str
    nomad_id: uuid.UUID | None
    technology: str | None
    form_factor: str | None
    experiment_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    producer_id: uuid.UUID | None
    date_produced: date | None
    date_encapsulated: date | None
    encapsulation: str | None
    area: float | None
    initial_pce: float | None


class Scientist(BaseModel):
    scientist_id: uuid.UUID
    name: str


class Experiment(BaseModel):
    experiment_id: uuid.UUID
    name: str
    start_date: date | None
    end_date: date | None
    scientists: list[Scientist]


class MppStatistics(BaseModel):
    count: int
    avg_current: float | None
    avg_voltage: float | None
    avg_power: float | None
    max_power: float | None
    min_power: float | None
    start_time: datetime | None
    end_time: datetime | None
    first_timestamp: datetime | None
    last_timestamp: datetime | None


class TemperatureStatistics(BaseModel):
    count: int
    avg_temperature: float | None
    max_temperature: float | None
    min_temperature: float | None
    start_time: datetime | None
    end_time: datetime | None
    first_timestamp: datetime | None
    last_timestamp: datetime | None


class IrradianceStatistics(BaseModel):
    count: int
    avg_irradiance: float | None
    max_irradiance: float | None
    min_irradiance: float | None
    start_time: datetime | None
    end_time: datetime | None
    first_timestamp: datetime | None
    last_timestamp: datetime | None


class PixelInfo(BaseModel):
    device: str
    pixel: str
    active_area: float | None
    device_area: float | None
    board: int | None
    channel: int | None
    connected: bool | None
    activity_start: datetime | None
    activity_end: datetime | None
    first_connection_event_time: datetime | None
    last_event_time: datetime | None
    last_event_type_recorded: str | None


class PixelRow(BaseModel):
    timestamp: datetime
    current: float | None
    voltage: float | None
    power: float | None
    tracking_channel_board: int
    tracking_channel_channel: int
    connection_event_time: datetime
    n: int | None = None
    power_min: float | None = None
    power_max: float | None = None


class PixelSeries(BaseModel):
    device: str
    pixel: str
    resolution: str
    data: list[PixelRow]


class BoardChannelStatus(BaseModel):
    board_number: int
    channel_number: int
    solar_cell_name: str | None
    pixel_identifier: str | None
    is_active: int
    last_event_time: datetime | None
    last_event_type: str | None


class Order(str, Enum):
    asc = "asc"
    desc = "desc"


class Sort(str, Enum):
    timestamp = "timestamp"


class Format(str, Enum):
    json = "json"
    csv = "csv"


class Resolution(str, Enum):
    raw = "raw"
    m1 = "1m"
    h1 = "1h"
