"""Declarations of the registry's kinds: forms, tables and validation are generated from these."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"  # text | int | float | date | uuid | ref
    required: bool = False
    ref: str | None = None  # entity name for type "ref"
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    auto_uuid: bool = False  # generated when left empty
    unique: bool = False
    key: bool = False  # part of the primary key (not editable after creation)


@dataclass(frozen=True)
class Entity:
    name: str
    title: str
    table: str
    fields: tuple[Field, ...]
    display: str  # column shown when other rows refer to this one
    order_by: tuple[str, ...] = ()
    date_order: tuple[tuple[str, str], ...] = ()  # (earlier, later)
    links: tuple[tuple[str, str, str, str], ...] = field(default=())  # (form field, link table, my col, other col)

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.key)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def columns(self) -> tuple[str, ...]:
        linked = {lk[0] for lk in self.links}
        return tuple(f.name for f in self.fields if f.name not in linked)


ENTITIES: dict[str, Entity] = {e.name: e for e in (
    Entity("scientist", "Scientists", "scientist", (
        Field("scientist_id", "Id", "uuid", key=True, auto_uuid=True),
        Field("name", "Name", required=True, unique=True),
    ), display="name", order_by=("name",)),
    Entity("project", "Projects", "project", (
        Field("project_id", "Id", "uuid", key=True, auto_uuid=True),
        Field("name", "Name", required=True, unique=True),
    ), display="name", order_by=("name",)),
    Entity("experiment", "Experiments", "experiment", (
        Field("experiment_id", "Id", "uuid", key=True, auto_uuid=True),
        Field("name", "Name", required=True, unique=True),
        Field("start_date", "Start", "date"),
        Field("end_date", "End", "date"),
        Field("scientist", "Scientist", "ref", ref="scientist"),
        Field("project", "Project", "ref", ref="project"),
    ), display="name", order_by=("name",), date_order=(("start_date", "end_date"),),
        links=(("scientist", "scientist_performed_experiment", "experiment_id", "scientist_id"),
               ("project", "experiment_contributed_project", "experiment_id", "project_id"))),
    Entity("device", "Devices", "solar_cell_device", (
        Field("name", "Name", required=True, key=True),
        Field("nomad_id", "NOMAD id", "uuid", unique=True),
        Field("technology", "Technology"),
        Field("form_factor", "Form factor"),
        Field("experiment_id", "Experiment", "ref", ref="experiment"),
        Field("owner_id", "Owner", "ref", ref="scientist"),
        Field("producer_id", "Producer", "ref", ref="scientist"),
        Field("date_produced", "Produced", "date"),
        Field("date_encapsulated", "Encapsulated", "date"),
        Field("encapsulation", "Encapsulation"),
        Field("area", "Area (cm²)", "float", min=0, min_exclusive=True),
        Field("initial_pce", "Initial PCE (%)", "float", min=0, max=100),
    ), display="name", order_by=("name",), date_order=(("date_produced", "date_encapsulated"),)),
    Entity("pixel", "Pixels", "solar_cell_pixel", (
        Field("solar_cell_id", "Device", "ref", ref="device", required=True, key=True),
        Field("pixel", "Pixel", required=True, key=True),
        Field("active_area", "Active area (cm²)", "float", min=0, min_exclusive=True),
        Field("initial_pce", "Initial PCE (%)", "float", min=0, max=100),
    ), display="pixel", order_by=("solar_cell_id", "pixel")),
    Entity("channel", "MPP channels", "mpp_tracking_channel", (
        Field("board", "Board", "int", required=True, key=True, min=0),
        Field("channel", "Channel", "int", required=True, key=True, min=0),
        Field("address", "Address"),
        Field("com_port", "COM port"),
        Field("current_limit", "Current limit (mA)", "float", min=0, min_exclusive=True),
    ), display="channel", order_by=("board", "channel")),
    Entity("temperature_sensor", "Temperature sensors", "temperature_sensor", (
        Field("temperature_sensor_id", "Id", "uuid", key=True, auto_uuid=True),
        Field("sensor_identifier", "Identifier", required=True, unique=True),
        Field("location", "Location"),
        Field("date_installed", "Installed", "date"),
    ), display="sensor_identifier", order_by=("sensor_identifier",)),
    Entity("irradiance_sensor", "Irradiance sensors", "irradiance_sensor", (
        Field("irradiance_sensor_id", "Id", "uuid", key=True, auto_uuid=True),
        Field("sensor_identifier", "Identifier", required=True),
        Field("channel", "Channel", "int", required=True, min=0),
        Field("location", "Location"),
        Field("installation_angle", "Angle (°)", "int", min=0, max=90),
        Field("date_installed", "Installed", "date"),
    ), display="sensor_identifier", order_by=("sensor_identifier", "channel")),
)}
