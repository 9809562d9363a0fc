"""The numbers a simulated station reports, and how a fleet is put together; no sockets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chargeops.simulator import FleetConfig, default_id_tags, make_stations, station_ids
from chargeops.simulator.meter import ConnectorMeter, Ev, ReadingContext
from chargeops.simulator.v16 import meter_value
from chargeops.simulator.wiring import format_timestamp

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_register_grows_by_power_times_time() -> None:
    meter = ConnectorMeter(1_000.0, 11_000, random.Random(1))
    meter.plug(Ev(battery_wh=60_000, soc_percent=20), now=0.0)
    meter.advance(3600.0 / 11)  # 1/11 h at 11 kW = 1 kWh
    assert meter.energy_wh == pytest.approx(2_000, abs=1)


def test_register_never_decreases_and_stands_still_without_an_ev() -> None:
    meter = ConnectorMeter(0.0, 22_000, random.Random(1))
    meter.plug(Ev(battery_wh=40_000, soc_percent=70), now=0.0)
    readings = []
    for second in range(0, 7200, 60):
        readings.append(meter.sample(float(second), T0, ReadingContext.PERIODIC).energy_wh)
    assert readings == sorted(readings)
    meter.unplug(7200.0)
    idle = meter.sample(9000.0, T0, ReadingContext.PERIODIC)
    assert idle.energy_wh == meter.energy_wh
    assert idle.power_w == 0 and idle.soc_percent is None


def test_charging_tapers_above_80_percent_and_stops_when_full() -> None:
    meter = ConnectorMeter(0.0, 50_000, random.Random(1))
    meter.plug(Ev(battery_wh=50_000, soc_percent=50), now=0.0)
    assert meter.power_w() == 50_000
    meter.advance(3600.0)  # more than enough to fill it
    assert meter.ev is not None and meter.ev.soc_percent == pytest.approx(100)
    assert meter.power_w() == 0
    # 25 kWh to fill from 50 %: the register holds exactly what the battery took.
    assert meter.energy_wh == pytest.approx(25_000, abs=1)


@pytest.mark.parametrize(
    ("power_w", "phases", "volts"),
    [(7_400, 1, 230), (22_000, 3, 230), (150_000, 1, 400)],
)
def test_current_matches_power_voltage_and_phases(power_w: int, phases: int, volts: int) -> None:
    meter = ConnectorMeter(0.0, power_w, random.Random(1))
    meter.plug(Ev(battery_wh=80_000, soc_percent=30), now=0.0)
    sample = meter.sample(1.0, T0, ReadingContext.PERIODIC)
    assert meter.phases == phases
    assert sample.voltage_v == pytest.approx(volts, rel=0.2)
    assert sample.current_a * sample.voltage_v * phases == pytest.approx(sample.power_w)
    assert sample.power_w == pytest.approx(power_w, rel=0.02)


def test_v16_meter_value_reports_whole_wh_and_utc_timestamps() -> None:
    meter = ConnectorMeter(12_345.6, 11_000, random.Random(1))
    meter.plug(Ev(battery_wh=60_000, soc_percent=42), now=0.0)
    local = T0.astimezone(timezone(timedelta(hours=2)))
    value = meter_value(meter.sample(0.0, local, ReadingContext.TRANSACTION_END))
    assert value["timestamp"] == "2025-01-01T12:00:00.000Z"
    by_measurand = {v["measurand"]: v for v in value["sampledValue"]}
    energy = by_measurand["Energy.Active.Import.Register"]
    assert (energy["value"], energy["unit"], energy["context"]) == (
        "12345",
        "Wh",
        "Transaction.End",
    )
    assert by_measurand["SoC"]["value"] == "42" and by_measurand["SoC"]["location"] == "EV"
    assert {v["unit"] for v in value["sampledValue"]} == {"Wh", "W", "A", "V", "Percent"}
    assert format_timestamp(T0) == "2025-01-01T12:00:00.000Z"


def test_ids_and_tags_are_numbered_from_one_and_sort() -> None:
    assert station_ids("SIM", 3) == ["SIM-0001", "SIM-0002", "SIM-0003"]
    assert default_id_tags(2) == ["SIM-TAG-0001", "SIM-TAG-0002"]
    assert station_ids("X", 12_000)[-1] == "X-12000"
    assert station_ids("X", 12_000)[0] == "X-00001"


def test_same_seed_builds_the_same_fleet() -> None:
    config = FleetConfig(url="ws://127.0.0.1:9000/ocpp", stations=20, seed=42)

    def shape() -> list[tuple[str, str, int, int, str]]:
        return [
            (
                s.station_id,
                s.spec.serial_number,
                s.spec.connector_count,
                s.spec.max_power_w,
                s.spec.id_tag,
            )
            for s in make_stations(config)
        ]

    first = shape()
    assert first == shape()
    assert {count for _, _, count, _, _ in first} == {1, 2}
    assert all(7_400 <= power <= 22_000 for _, _, _, power, _ in first)
    assert [tag for *_, tag in first] == default_id_tags(20)


def test_config_rejects_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="ws://"):
        FleetConfig(url="http://127.0.0.1:9000/ocpp")
    with pytest.raises(ValueError, match="OCPP 9"):
        FleetConfig(url="ws://x/ocpp", ocpp_version="9")
    with pytest.raises(ValueError, match="charge_duration_s"):
        FleetConfig(url="ws://x/ocpp", charge_duration_s=(5.0, 1.0))
    with pytest.raises(ValueError, match="20 characters"):
        FleetConfig(url="ws://x/ocpp", id_tags=["X" * 21])
    assert FleetConfig(url="ws://x/ocpp", stations=2).id_tags == ["SIM-TAG-0001", "SIM-TAG-0002"]
