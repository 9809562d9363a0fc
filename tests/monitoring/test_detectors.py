"""The detectors' decisions as pure functions, and their thresholds as configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargeops.core.errors import InvalidInput
from chargeops.monitoring import detectors as d
from chargeops.monitoring.detectors import (
    EndedSession,
    InvalidThresholds,
    OpenSession,
    PowerLimit,
    Reading,
    Sample,
    Thresholds,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TH = Thresholds()


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


# --- thresholds --------------------------------------------------------------------------


def test_thresholds_from_configuration_keep_defaults_for_what_is_not_given() -> None:
    th = Thresholds.from_mapping(
        {"session_stuck_hours": 8, "auth_failures_count": 3.0, "disabled": ["slow_charging"]}
    )
    assert th.session_stuck_hours == 8.0 and th.auth_failures_count == 3
    assert isinstance(th.auth_failures_count, int)
    assert th.meter_jump_kw == 400 and th.reboot_loop_count == 3
    assert not th.enabled("slow_charging") and th.enabled("meter_jump")
    assert Thresholds.from_mapping({}) == Thresholds()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"session_stuck_hour": 8},
            "unknown threshold 'session_stuck_hour' (did you mean 'session_stuck_hours'?)",
        ),
        ({"session_stuck_hours": "8"}, "session_stuck_hours must be a number, not '8'"),
        ({"meter_silent_minutes": True}, "meter_silent_minutes must be a number, not True"),
        ({"slow_charging_ratio": 1.5}, "slow_charging_ratio must be more than 0 and at most 1"),
        ({"meter_jump_kw": 0}, "meter_jump_kw must be more than 0, not 0"),
        ({"reboot_loop_count": 1}, "reboot_loop_count must be at least 2, not 1"),
        ({"auth_failures_count": 2.5}, "auth_failures_count must be a whole number, not 2.5"),
        ({"failing_start_max_s": float("nan")}, "failing_start_max_s must be finite"),
        ({"disabled": ["slow_charging", "coffee"]}, "disabled: no detector 'coffee'"),
        ({"disabled": "slow_charging"}, "disabled must be a list of detector names"),
    ],
)
def test_thresholds_that_cannot_be_used_say_why(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidThresholds) as caught:
        Thresholds.from_mapping(values)
    assert message in str(caught.value)
    # one error for configuration (pydantic reports ValueErrors) and for every edge
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, InvalidInput)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidThresholds) as caught:
        Thresholds.from_mapping({"nope": 1, "meter_jump_kw": -1})
    text = str(caught.value)
    assert "unknown threshold 'nope'" in text and "meter_jump_kw must be" in text
    assert "known: auth_failures_count, auth_failures_minutes" in text


def test_thresholds_built_in_code_are_checked_too() -> None:
    with pytest.raises(InvalidThresholds, match="failing_starts_count must be at least 1"):
        Thresholds(failing_starts_count=0)


# --- meter_backwards, meter_jump ---------------------------------------------------------


def test_register_steps_back_and_jumps() -> None:
    readings = [
        Reading(at(0), 12_345),
        Reading(at(1), 12_400),
        Reading(at(2), 12_001),  # back
        Reading(at(3), 12_001.5),  # less than a watt-hour of noise is no step at all
        Reading(at(4), 20_000),  # 7,998.5 Wh in 60 s: 480 kW
    ]
    steps = d.register_steps(reversed(readings), TH)  # any order
    assert [(s.detector, s.before.wh, s.after.wh) for s in steps] == [
        ("meter_backwards", 12_400, 12_001),
        ("meter_jump", 12_001.5, 20_000),
    ]
    assert steps[1].implied_kw == pytest.approx(479.91)


def test_a_rise_within_the_power_limit_is_no_jump() -> None:
    # 6,600 Wh in 60 s is 396 kW: fast DC charging, under 400
    assert d.register_steps([Reading(at(0), 0), Reading(at(1), 6_600)], TH) == []
    assert d.register_steps([Reading(at(0), 0), Reading(at(1), 6_700)], TH)[0].detector == (
        "meter_jump"
    )


def test_readings_of_one_instant_are_no_step_back_and_take_a_second() -> None:
    same = [Reading(at(0), 500), Reading(at(0), 400)]
    assert d.register_steps(same, TH) == []
    # 200 Wh at one instant is judged as over one second: 720 kW
    [step] = d.register_steps([Reading(at(0), 400), Reading(at(0), 600)], TH)
    assert step.detector == "meter_jump" and step.implied_kw == pytest.approx(720)


def test_register_series_judge_each_meter_apart() -> None:
    series = d.register_series([("", at(0), 1.0), ("Outlet", at(1), 2.0), ("Inlet", at(1), 3.0)])
    assert series == {
        "Outlet": [Reading(at(0), 1.0), Reading(at(1), 2.0)],
        "Inlet": [Reading(at(1), 3.0)],
    }


def test_register_detection_words_and_figures() -> None:
    [step] = d.register_steps([Reading(at(0), 12_345), Reading(at(1), 12_001)], TH)
    found = d.register_detection("CP-12", 1, step, TH, session_id=88)
    assert found.summary == (
        "CP-12 EVSE 1: energy register went backwards from 12,345 Wh to 12,001 Wh in session 88"
    )
    assert found.detail["drop_wh"] == 344 and found.at == at(1) and found.session_id == 88


# --- auth_failures, reboot_loop ----------------------------------------------------------


def test_refusals_are_counted_back_to_the_last_accepted() -> None:
    assert d.refusals_in_a_row(["Invalid", "Blocked", "Accepted", "Invalid"]) == 2
    assert d.refusals_in_a_row(["Accepted", "Invalid"]) == 0
    assert d.refusals_in_a_row([]) == 0


def test_auth_failures_detection_needs_the_count() -> None:
    refused = [(f"TAG-{n}", "Invalid") for n in range(4)]
    assert d.auth_failures_detection("CP-1", 0, refused, TH, at=at()) is None
    found = d.auth_failures_detection("CP-1", 0, [*refused, ("X", "Blocked")], TH, at=at())
    assert found is not None and found.detail["statuses"] == {"Invalid": 4, "Blocked": 1}
    assert found.summary.startswith("CP-1: 5 authorizations refused in a row within 10 min")


def test_reboot_loop_needs_the_count_and_ends_a_window_after_the_last_boot() -> None:
    boots = [at(0), at(5)]
    assert d.reboot_loop_detection("CP-1", boots, TH, at=at(5)) is None
    found = d.reboot_loop_detection("CP-1", [*boots, at(9)], TH, at=at(9))
    assert found is not None and found.evse_id == 0
    assert found.summary == "CP-1 booted 3 times within 30 min"
    assert d.reboot_loop_over(at(9), TH) == at(39)
    assert d.reboot_loop_over(None, TH) is None


# --- failing_starts ----------------------------------------------------------------------


def ended(n: int, seconds: float, wh: int | None) -> EndedSession:
    start = at(10 * n)
    return EndedSession(n, start, start + timedelta(seconds=seconds), wh, "EVDisconnected")


def test_failing_starts_need_the_last_sessions_all_short_and_empty() -> None:
    failed = [ended(3, 20, 0), ended(2, 59, 99), ended(1, 5, None)]
    found = d.failing_starts_detection("CP-1", 2, failed, TH, connector_status="Available")
    assert found is not None and found.session_id == 3 and found.at == failed[0].stopped_at
    assert found.summary.endswith("; the connector shows Available")
    # one of them charged (long enough, or energy enough): not all failing
    for good in (ended(2, 60, 0), ended(2, 20, 100)):
        assert d.failing_starts_detection("CP-1", 2, [failed[0], good, failed[2]], TH) is None
    # fewer sessions than the count: too early to say
    assert d.failing_starts_detection("CP-1", 2, failed[:2], TH) is None


# --- session_stuck, meter_silent ---------------------------------------------------------


def open_session(**kw: object) -> OpenSession:
    values: dict[str, object] = {
        "id": 88,
        "station_id": "CP-12",
        "evse_id": 1,
        "started_at": at(0),
        "charging_state": None,
        "connector_status": "Charging",
        "connector_since": at(0),
        "online": True,
        "last_value_at": at(1),
    }
    values.update(kw)
    return OpenSession(**values)  # type: ignore[arg-type]


def test_charging_is_the_201_state_or_the_16_connector_status() -> None:
    assert open_session().charging
    assert not open_session(connector_status="SuspendedEV").charging
    assert open_session(charging_state="Charging", connector_status="Occupied").charging
    assert not open_session(charging_state="EVConnected", connector_status="Charging").charging
    # 1.6: since the connector said Charging; 2.0.1: since the start
    assert open_session(connector_since=at(5)).charging_since == at(5)
    assert open_session(charging_state="Charging", connector_since=at(5)).charging_since == at(0)


def test_a_session_open_too_long_is_stuck() -> None:
    assert d.stuck_detection(open_session(), TH, now=at(12 * 60)) is None
    found = d.stuck_detection(open_session(), TH, now=at(13 * 60))
    assert found is not None and found.ongoing and found.session_id == 88
    assert found.summary == "CP-12 EVSE 1: session 88 has been charging for 13 h"
    idle = d.stuck_detection(open_session(connector_status="Available"), TH, now=at(13 * 60))
    assert idle is not None and "has been open for 13 h" in idle.summary


def test_a_silent_meter_while_charging() -> None:
    assert d.silent_detection(open_session(), TH, now=at(16)) is None  # 15 min since 1
    found = d.silent_detection(open_session(), TH, now=at(17))
    assert found is not None and found.detail["silent_minutes"] == 16
    # not charging, or the station offline (connectivity says so): nothing
    assert d.silent_detection(open_session(connector_status="SuspendedEV"), TH, now=at(60)) is None
    assert d.silent_detection(open_session(online=False), TH, now=at(60)) is None
    # charging only since minute 10: counted from there
    assert d.silent_detection(open_session(connector_since=at(10)), TH, now=at(24)) is None
    none_yet = d.silent_detection(open_session(last_value_at=None), TH, now=at(20))
    assert none_yet is not None and "no meter value at all in 20 min" in none_yet.summary


def test_values_coming_again_end_a_silence() -> None:
    detail = {"last_value_at": at(1).isoformat()}
    assert not d.values_came_again(open_session(), detail)
    assert d.values_came_again(open_session(last_value_at=at(20)), detail)
    assert d.values_came_again(None, detail)  # the session ended
    assert d.values_came_again(open_session(connector_status="Finishing"), detail)
    assert d.values_came_again(open_session(), {"last_value_at": None})


# --- slow_charging -----------------------------------------------------------------------


def test_power_is_the_total_or_the_sum_of_phases_or_the_register_rate() -> None:
    total = [Sample(at(0), d.POWER, "", 7_000), Sample(at(0), d.POWER, "L1", 2_000)]
    assert d.power_series(total) == [(at(0), 7_000)]
    phases = [Sample(at(0), d.POWER, p, 2_000) for p in ("L1", "L2", "L3-N")]
    assert d.power_series(phases) == [(at(0), 6_000)]
    register = [Sample(at(m), d.ENERGY_REGISTER, "", wh) for m, wh in ((0, 0), (6, 1_000))]
    assert d.power_series(register) == [(at(6), pytest.approx(10_000))]


def test_what_the_charger_offers() -> None:
    samples = [
        Sample(at(0), d.POWER_OFFERED, "", 11_000),
        Sample(at(1), d.CURRENT_OFFERED, "", 16),
        Sample(at(1), d.VOLTAGE, "L1-N", 230),
        Sample(at(1), d.VOLTAGE, "L1-L2", 400),  # line to line: not a phase voltage
        *[Sample(at(1), d.CURRENT, p, 15.8) for p in ("L1", "L2", "L3")],
    ]
    assert d.offered_limits(samples) == [
        PowerLimit("Power.Offered", 11_000),
        PowerLimit("Current.Offered 16 A x 230 V x 3 phases", 16 * 230 * 3),
    ]
    # a car drawing on one phase is allowed what one phase carries
    one_phase = [*samples[:4], Sample(at(1), d.CURRENT, "L1", 15.8)]
    assert d.phases_in_use(one_phase) == 1
    # current offered without any voltage: no figure
    assert d.offered_limits([Sample(at(1), d.CURRENT_OFFERED, "", 16)]) == []


def test_what_the_device_model_allows() -> None:
    rows = [
        ("EVSE", 1, "Power", "Actual", "3000", {"unit": "kW", "maxLimit": 22}),
        ("EVSE", 1, "Power", "MaxSet", "11000", None),
        ("ChargingStation", 0, "AvailablePower", "Actual", "50000", {"unit": "W"}),
        ("EVSE", 1, "AvailablePower", "Target", "1", None),
        ("EVSE", 1, "Power", "Actual", "0", None),  # no maxLimit
        ("EVSE", 2, "Power", "MaxSet", "7400", None),  # another EVSE's
    ]
    assert d.device_model_limits(rows, 1) == [
        PowerLimit("EVSE.Power maxLimit", 22_000),
        PowerLimit("EVSE.Power", 11_000),
        PowerLimit("ChargingStation.AvailablePower", 50_000),
    ]
    assert d.device_model_limits(rows, 3) == [PowerLimit("ChargingStation.AvailablePower", 50_000)]


def judge(
    power: list[tuple[datetime, float]],
    limits: list[PowerLimit],
    *,
    now: datetime,
    soc: float | None = None,
    since: datetime = T0,
) -> d.SlowVerdict:
    return d.judge_slow_charging(
        power, limits, soc_percent=soc, charging_since=since, now=now, thresholds=TH
    )


LIMIT = [PowerLimit("Power.Offered", 11_000), PowerLimit("EVSE.Power", 22_000)]


def test_slow_charging_is_below_half_the_lowest_limit_for_the_whole_window() -> None:
    power = [(at(1), 3_000.0), (at(8), 3_000.0), (at(15), 5_000.0)]
    verdict = judge(power, LIMIT, now=at(16))
    assert verdict.state == "slow" and verdict.limit == LIMIT[0] and verdict.power_w == 5_000
    # nothing says what is allowed: no guess
    assert judge(power, [], now=at(16)).state == "unknown"
    # the latest reading reaches the limit: fine (and ends an open anomaly)
    assert judge([*power, (at(16), 5_500.0)], LIMIT, now=at(16)).state == "fine"
    # a nearly full car slows down by itself
    assert judge(power, LIMIT, now=at(16), soc=85).state == "fine"


def test_slow_charging_needs_the_whole_window() -> None:
    power = [(at(1), 3_000.0), (at(8), 6_000.0), (at(15), 3_000.0)]
    # fast at minute 8, inside the window: not slow for ten minutes yet
    assert judge(power, LIMIT, now=at(16)).state == "unknown"
    # charging for less than the window
    assert judge([(at(1), 3_000.0)], LIMIT, now=at(16), since=at(7)).state == "unknown"
    # no reading before the window began
    assert judge([(at(8), 3_000.0)], LIMIT, now=at(16)).state == "unknown"
    # the reading before the window holds: slow all along
    assert judge([(at(1), 3_000.0)], LIMIT, now=at(16)).state == "slow"
