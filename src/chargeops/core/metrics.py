"""Prometheus metrics, defined once; the HTTP layer serves them at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

CONNECTED_STATIONS = Gauge(
    "chargeops_connected_stations", "Stations with an open OCPP connection", registry=REGISTRY
)
OCPP_MESSAGES = Counter(
    "chargeops_ocpp_messages_total",
    "OCPP requests from chargers, by action and result (ok, error, refused)",
    ["action", "result"],
    registry=REGISTRY,
)
OCPP_ANSWER_SECONDS = Histogram(
    "chargeops_ocpp_answer_seconds",
    "Time from receiving a charger's request to sending its answer",
    ["action"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
DB_COMMIT_SECONDS = Histogram(
    "chargeops_db_commit_seconds",
    "Duration of one group commit (all units in the batch)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
DB_BATCH_SIZE = Histogram(
    "chargeops_db_batch_units",
    "Units of work committed together",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)

DB_WRITER_BACKLOG = Gauge(
    "chargeops_db_writer_backlog",
    "Units of work waiting for the database writer (grows before latency does)",
    registry=REGISTRY,
)


def observe_commit(seconds: float, units: int) -> None:
    DB_COMMIT_SECONDS.observe(seconds)
    DB_BATCH_SIZE.observe(units)


def _install_process_collectors() -> None:
    from prometheus_client import PlatformCollector, ProcessCollector

    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)


_install_process_collectors()
