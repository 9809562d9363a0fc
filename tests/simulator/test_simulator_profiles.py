"""The OCPP rules the simulated stations' charging limits follow, without sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chargeops.simulator.local_list import ListEntry, ListUpdate, LocalList
from chargeops.simulator.profiles import (
    ChargingProfile,
    ChargingProfiles,
    ConnectorLoad,
    Kind,
    Period,
    Purpose,
    RateUnit,
)
from chargeops.simulator.transfers import can_upload_to, firmware_version

T0 = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
AC = ConnectorLoad(connector_id=1, max_power_w=22_000, phases=3)


def profile(
    profile_id: int,
    limit: float,
    *,
    purpose: Purpose = Purpose.TX_DEFAULT,
    connector_id: int = 1,
    stack_level: int = 0,
    unit: RateUnit = RateUnit.WATTS,
    periods: tuple[Period, ...] | None = None,
    **fields: object,
) -> ChargingProfile:
    return ChargingProfile(
        profile_id=profile_id,
        connector_id=connector_id,
        stack_level=stack_level,
        purpose=purpose,
        kind=fields.pop("kind", Kind.ABSOLUTE),  # type: ignore[arg-type]
        unit=unit,
        periods=periods or (Period(0, limit),),
        received_at=T0,
        **fields,  # type: ignore[arg-type]
    )


def test_the_lowest_applicable_limit_wins_and_amperes_count_per_phase() -> None:
    profiles = ChargingProfiles()
    assert profiles.limit_w(AC, T0) == 22_000  # no profile: the hardware's maximum
    profiles.install(profile(1, 16, unit=RateUnit.AMPERES))
    assert profiles.limit_w(AC, T0) == 16 * 230 * 3
    single_phase = ConnectorLoad(1, 7_400, phases=1)
    assert profiles.limit_w(single_phase, T0) == 16 * 230
    profiles.install(profile(2, 9_000, purpose=Purpose.STATION_MAX, connector_id=0))
    assert profiles.limit_w(AC, T0) == 9_000
    assert profiles.limit_w(AC, T0, sharing=2) == 4_500  # the station's maximum is shared


def test_a_tx_profile_beats_the_default_and_the_connector_beats_the_station() -> None:
    profiles = ChargingProfiles()
    profiles.install(profile(1, 10_000, connector_id=0))
    profiles.install(profile(2, 8_000))
    assert profiles.limit_w(AC, T0) == 8_000
    profiles.install(profile(3, 12_000, purpose=Purpose.TX, transaction_id="T1"))
    charging = ConnectorLoad(1, 22_000, 3, transaction_id="T1", session_start=T0)
    assert profiles.limit_w(charging, T0) == 12_000
    other = ConnectorLoad(1, 22_000, 3, transaction_id="T2", session_start=T0)
    assert profiles.limit_w(other, T0) == 8_000
    profiles.end_transaction(1)
    assert profiles.limit_w(charging, T0) == 8_000


def test_the_highest_stack_level_in_force_wins() -> None:
    profiles = ChargingProfiles()
    profiles.install(profile(1, 10_000, stack_level=0))
    profiles.install(profile(2, 3_000, stack_level=5, duration_s=600))
    assert profiles.limit_w(AC, T0 + timedelta(minutes=5)) == 3_000
    assert profiles.limit_w(AC, T0 + timedelta(minutes=15)) == 10_000  # level 5 ran out
    future = profile(3, 1_000, stack_level=9, start_schedule=T0 + timedelta(hours=1))
    profiles.install(future)
    assert profiles.limit_w(AC, T0) == 3_000


def test_same_id_or_same_slot_replaces_and_clearing_matches_id_or_criteria() -> None:
    profiles = ChargingProfiles()
    profiles.install(profile(1, 10_000))
    profiles.install(profile(1, 5_000, stack_level=3))
    profiles.install(profile(2, 4_000, stack_level=3))  # same purpose, level and connector
    assert [(p.profile_id, p.periods[0].limit) for p in profiles] == [(2, 4_000)]
    profiles.install(profile(3, 7_000, connector_id=0))
    profiles.install(profile(4, 7_000, purpose=Purpose.STATION_MAX, connector_id=0))
    assert profiles.clear(profile_id=99) == 0
    assert profiles.clear(connector_id=0, purpose=Purpose.TX_DEFAULT) == 1
    assert profiles.clear(profile_id=2) == 1
    assert [p.profile_id for p in profiles] == [4]
    assert profiles.clear() == 1 and len(profiles) == 0


def test_recurring_and_relative_schedules_and_their_composite() -> None:
    profiles = ChargingProfiles()
    evening = (Period(0, 11_000), Period(3600, 4_000), Period(7200, 11_000))
    daily = profile(
        1,
        0,
        kind=Kind.RECURRING,
        recurrency="Daily",
        start_schedule=T0 - timedelta(days=3),
        duration_s=86_400,
        periods=evening,
    )
    profiles.install(daily)
    assert profiles.limit_w(AC, T0 + timedelta(minutes=90)) == 4_000
    assert profiles.limit_w(AC, T0 + timedelta(days=1, minutes=90)) == 4_000
    assert profiles.limit_w(AC, T0 + timedelta(hours=3)) == 11_000
    assert profiles.composite([AC], T0 + timedelta(minutes=30), 3 * 3600) == [
        (0, 11_000),
        (1800, 4_000),
        (5400, 11_000),
    ]

    relative = ChargingProfiles()
    ramp = (Period(0, 2_000), Period(60, 6_000))
    relative.install(profile(2, 0, kind=Kind.RELATIVE, periods=ramp))
    session = ConnectorLoad(1, 22_000, 3, transaction_id="T1", session_start=T0)
    assert relative.limit_w(session, T0 + timedelta(seconds=30)) == 2_000
    assert relative.limit_w(session, T0 + timedelta(seconds=90)) == 6_000


def test_the_station_composite_sums_its_connectors_under_the_station_maximum() -> None:
    profiles = ChargingProfiles()
    loads = [ConnectorLoad(1, 11_000, 3), ConnectorLoad(2, 11_000, 3)]
    assert profiles.composite(loads, T0, 60) == [(0, 22_000)]
    profiles.install(profile(1, 15_000, purpose=Purpose.STATION_MAX, connector_id=0))
    assert profiles.composite(loads, T0, 60) == [(0, 15_000)]


def test_the_local_list_versions_and_differential_updates() -> None:
    local = LocalList()
    assert local.update(3, True, [("A", ListEntry("A", "Accepted"))]) is ListUpdate.ACCEPTED
    assert local.update(3, False, []) is ListUpdate.VERSION_MISMATCH
    expired = ListEntry("B", "Accepted", T0 - timedelta(days=1))
    assert local.update(4, False, [("B", expired), ("a", None)]) is ListUpdate.ACCEPTED
    assert local.version == 4 and local.get("A") is None
    assert not local.accepts("b", T0)  # expired
    assert local.update(5, True, []) is ListUpdate.ACCEPTED
    assert local.version == 0  # no list


def test_firmware_versions_and_upload_locations() -> None:
    assert firmware_version("https://fw.example/x/chargeops-sim-2.0.bin", "1") == (
        "chargeops-sim-2.0"
    )
    assert firmware_version("https://fw.example/x/fw%202.1.tar.gz?sig=1", "1") == "fw 2.1"
    assert firmware_version("https://fw.example/", "1.0") == "1.0"
    assert can_upload_to("HTTPS://logs.example/in") and not can_upload_to("ftp://logs.example")
