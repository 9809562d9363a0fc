"""Gateway benchmark: chargeops against a bare WebSocket server, in one run, on one machine.

For each target (the bare server of bench/bare_server.py, `chargeops serve` on SQLite,
`chargeops serve` on PostgreSQL) it starts the server as a subprocess and drives it
with bench/loadgen.py from separate processes through these phases:

  hold    N idle stations connect and boot: connections held, memory per connection
          (server RSS from /proc before and while they are connected)
  storm   the same N stations reconnect at once and send BootNotification: boots/s
  steady  N stations send MeterValues every --period s: p50/p99, nothing lost
  flood   --flood-stations send MeterValues back-to-back: answered per second

and prints one table with chargeops as a ratio of the bare ceiling measured in the same
run. Figures are only comparable within a run: the load generator shares the cores.

    python bench/gateway_bench.py --quick            # ~500 stations, a few minutes
    python bench/gateway_bench.py                    # the 10,000-station bar
    python bench/gateway_bench.py --targets sqlite --steps 10000x10,10000x2,10000x1

A target named ``sqlite-nolog`` or ``postgres-nolog`` is the same server with the OCPP
message log off (CHARGEOPS_MESSAGE_LOG_DAYS=0); ``--baseline`` puts the ratios against
it, so the cost of the log is measured in one run:

    python bench/gateway_bench.py --quick --targets sqlite-nolog,sqlite --baseline sqlite-nolog

Likewise ``-nodetect`` turns every anomaly detector off (CHARGEOPS_ANOMALY_THRESHOLDS),
to measure what judging each MeterValues' register costs:

    python bench/gateway_bench.py --quick --targets sqlite-nodetect,sqlite \
        --baseline sqlite-nodetect
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
CHARGEOPS = str(Path(sys.executable).parent / "chargeops")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "chargeops_bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = (
    "bare",
    "sqlite",
    "postgres",
    "sqlite-nolog",
    "postgres-nolog",
    "sqlite-nodetect",
    "postgres-nodetect",
)
NO_LOG = "-nolog"  # a target name's suffix: the message log off
NO_DETECT = "-nodetect"  # ...: every anomaly detector off
DETECTORS = (  # monitoring.detectors.DETECTORS (the bench imports nothing of chargeops)
    "meter_backwards",
    "meter_jump",
    "meter_silent",
    "session_stuck",
    "slow_charging",
    "auth_failures",
    "reboot_loop",
    "failing_starts",
)
ID_TAG = "BENCHTAG"


# --------------------------------------------------------------------------- /proc


def _descendants(pid: int) -> list[int]:
    """pid and every process below it: `chargeops serve` may fork workers."""
    found = [pid]
    for current in found:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{current}/task/{task}/children").read_text()
                    found.extend(int(child) for child in text.split())
    return found


def rss_kb(pid: int) -> int:
    """Resident memory of a process tree, in KiB (VmRSS from /proc/PID/status)."""
    total = 0
    for proc in _descendants(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _cpu_of(pids: list[int]) -> float:
    total = 0
    for proc in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process tree."""
    return _cpu_of(_descendants(pid))


def machine_busy_s() -> float:
    """CPU seconds all cores spent not idle: shows other work on the machine in a window."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK  # minus idle and iowait


def postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL process: its work is part of a durable answer."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/comm").read_text().startswith("postgres"):
                    pids.append(int(entry))
    return _cpu_of(pids)


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """A server under test: how to start it, where it listens, how to count its rows."""

    name: str
    ocpp_port: int
    http_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    database_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    message_log_days: int | None = None  # None: the server's default

    @property
    def kind(self) -> str:
        """bare, sqlite or postgres: what the target runs, whatever its variant."""
        return self.name.removesuffix(NO_LOG).removesuffix(NO_DETECT)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    def prepare(self) -> None:
        """Fresh database, schema and the load generator's id tag (a known, accepted card)."""
        self.env = dict(os.environ)
        if self.kind == "bare":
            return
        self.database_url = self._prepare_database()
        self.env.update(
            CHARGEOPS_DATABASE_URL=self.database_url,
            CHARGEOPS_HOST="127.0.0.1",
            CHARGEOPS_OCPP_PORT=str(self.ocpp_port),
            CHARGEOPS_HTTP_PORT=str(self.http_port),
            CHARGEOPS_UNKNOWN_STATIONS="accept",
        )
        days = 0 if self.name.endswith(NO_LOG) else self.message_log_days
        if days is not None:
            self.env["CHARGEOPS_MESSAGE_LOG_DAYS"] = str(days)
        if self.name.endswith(NO_DETECT):
            self.env["CHARGEOPS_ANOMALY_THRESHOLDS"] = json.dumps({"disabled": list(DETECTORS)})
        for command in (["db", "upgrade"], ["token", "add", ID_TAG]):
            subprocess.run(
                [CHARGEOPS, *command], env=self.env, check=True, capture_output=True, timeout=120
            )

    def start(self, ready_timeout: float = 120.0) -> None:
        """Start the server (on the prepared database) and wait until it answers."""
        if self.kind == "bare":
            argv = [PYTHON, str(BENCH / "bare_server.py"), "--port", str(self.ocpp_port)]
        else:
            argv = [CHARGEOPS, "serve"]
        self.log_path = self.workdir / f"{self.name}-server.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited at start:\n{self.log_tail()}")
            if self._is_ready():
                time.sleep(1.0)  # let start-up work (migrations, caches) settle
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} server not ready in {ready_timeout} s:\n{self.log_tail()}")

    def _is_ready(self) -> bool:
        if self.kind == "bare":
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.ocpp_port), timeout=1),
            ):
                return True
            return False
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/health", timeout=2
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _prepare_database(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self._sqlite_path}"
        _psql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        _psql(f"CREATE DATABASE {PG_DB}")
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"

    def stop(self, keep_log_in: Path | None = None) -> int | None:
        """SIGINT, as an operator would; SIGKILL only if it does not stop in 30 s."""
        if self.proc is None:
            return None
        code: int | None = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                code = None
        if keep_log_in is not None and self.log_path is not None and self.log_path.exists():
            keep_log_in.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.log_path, keep_log_in / self.log_path.name)
        return code

    @property
    def _sqlite_path(self) -> Path:
        return self.workdir / f"{self.name}-bench.db"  # one per target of the run

    def cleanup(self) -> None:
        if self.kind == "postgres":
            with contextlib.suppress(subprocess.CalledProcessError):
                _psql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")

    def count_rows(self, table: str) -> int | None:
        """Rows in one of chargeops' tables, to check durable storage against what was sent."""
        try:
            if self.kind == "sqlite":
                with contextlib.closing(sqlite3.connect(self._sqlite_path)) as db:
                    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            if self.kind == "postgres":
                url = f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"
                out = _psql(f"SELECT count(*) FROM {table}", url=url)
                return int(out.strip())
        except (sqlite3.Error, subprocess.CalledProcessError, ValueError):
            return None
        return None

    def frames_not_logged(self) -> int:
        """Frames the message log dropped, as its warnings in the server log count them."""
        if self.log_path is None or not self.log_path.exists():
            return 0
        found = re.findall(
            r"message log: (\d+) OCPP frames were not logged",
            self.log_path.read_text(errors="replace"),
        )
        return sum(int(n) for n in found)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _psql(sql: str, url: str = PG_ADMIN_URL) -> str:
    result = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


# --------------------------------------------------------------------------- phases


@dataclass
class Phase:
    """One load generator run and what the server did meanwhile."""

    name: str
    result: dict[str, Any]
    server_cpu_s: float
    db_cpu_s: float
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def run_loadgen(
    target: Target,
    mode: str,
    options: list[str],
    on_ready: Callable[[int], None] | None = None,
    window: float | None = None,
) -> Phase:
    """Run bench/loadgen.py against a target and account the server's CPU meanwhile.

    With `window`, CPU is also sampled over the measured window alone (from the
    load generator's READY line for `window` seconds): ramp-up and start-up would
    otherwise dilute the percentages.
    """
    assert target.proc is not None
    server_pid = target.proc.pid
    argv = [PYTHON, str(BENCH / "loadgen.py"), mode, "--url", target.url, *options]
    print(f"  {mode}: {' '.join(options)}", file=sys.stderr, flush=True)
    is_pg = target.kind == "postgres"

    def sample() -> tuple[float, float, float, float, float]:
        db = postgres_cpu_s() if is_pg else 0.0
        return time.monotonic(), cpu_s(server_pid), db, cpu_s(proc.pid), machine_busy_s()

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = sample()
    stderr_lines: list[str] = []
    windowed: dict[str, float] = {}

    def sample_window() -> None:
        assert window is not None
        first = sample()
        time.sleep(window)
        last = sample()
        wall = last[0] - first[0]
        windowed["server_cpu_pct"] = round(100 * (last[1] - first[1]) / wall, 1)
        windowed["db_cpu_pct"] = round(100 * (last[2] - first[2]) / wall, 1)
        windowed["loadgen_cpu_pct"] = round(100 * (last[3] - first[3]) / wall, 1)
        windowed["machine_cpu_pct"] = round(100 * (last[4] - first[4]) / wall, 1)

    def watch_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("READY "):
                if window is not None:
                    threading.Thread(target=sample_window, daemon=True).start()
                if on_ready is not None:
                    on_ready(int(line.split()[1]))
            else:
                stderr_lines.append(line)

    watcher = threading.Thread(target=watch_stderr, daemon=True)
    watcher.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    end = sample()  # the loadgen has closed its output: it is about to exit
    proc.wait()
    watcher.join(timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen {mode} failed ({proc.returncode}):\n{''.join(stderr_lines)}")
    phase = Phase(mode, json.loads(stdout), end[1] - start[1], end[2] - start[2], end[0] - start[0])
    phase.extra = windowed
    return phase


def _procs_for(stations: int, wanted: int) -> int:
    """Enough load generator processes to stay under the per-process open-file limit."""
    return max(wanted, math.ceil(stations / 15_000))


def _common(args: argparse.Namespace) -> list[str]:
    return ["--timeout", str(args.timeout), "--id-tag", ID_TAG, "--ocpp", args.ocpp]


def phase_hold(target: Target, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """N idle stations: how many the server holds and what each costs in memory."""
    assert target.proc is not None
    base_kb = rss_kb(target.proc.pid)
    held: dict[str, int] = {}

    def sample_rss(connected: int) -> None:
        time.sleep(args.settle)
        assert target.proc is not None
        held["rss_kb"] = rss_kb(target.proc.pid)
        held["connected"] = connected

    n = args.stations
    options = ["--stations", str(n), "--rate", str(args.rate), "--duration", str(args.settle + 5)]
    options += ["--procs", str(_procs_for(n, 1)), *_common(args)]
    hold = run_loadgen(target, "hold", options, on_ready=sample_rss)
    out["hold"] = hold.result
    out["connections_held"] = hold.result["held_at_end"]
    out["rss_before_hold_mb"] = round(base_kb / 1024, 1)
    if held.get("connected"):
        out["rss_held_mb"] = round(held["rss_kb"] / 1024, 1)
        out["kb_per_connection"] = round((held["rss_kb"] - base_kb) / held["connected"], 1)


def phase_storm(target: Target, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Every station (re)connects at once and boots, as after a CSMS restart."""
    n = args.stations
    options = ["--stations", str(n), "--concurrency", str(args.concurrency)]
    options += ["--duration", str(max(120.0, args.timeout * 4))]
    options += ["--procs", str(_procs_for(n, args.procs)), *_common(args)]
    storm = run_loadgen(target, "storm", options)
    out["storm"] = storm.result
    out["storm_server_cpu_s"] = round(storm.server_cpu_s, 2)


def phase_steady(target: Target, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """The bar (first step) and a ceiling search (later steps), stopping at a failed step."""
    out["steady"] = []
    for stations, period in args.steps:
        rows_before = target.count_rows("meter_values")
        options = ["--stations", str(stations), "--rate", str(args.rate)]
        options += ["--period", str(period), "--duration", str(args.duration)]
        options += ["--procs", str(_procs_for(stations, args.procs)), *_common(args)]
        phase = run_loadgen(target, "steady", options, window=args.duration)
        out["steady"].append(_summarize_load(target, phase, rows_before, stations, period))
        if not out["steady"][-1]["ok"] and not args.keep_going:
            break
        time.sleep(args.pause)


def phase_flood(target: Target, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Back-to-back MeterValues, one outstanding per station: answered per second."""
    rows_before = target.count_rows("meter_values")
    n = args.flood_stations
    options = ["--stations", str(n), "--rate", str(args.rate)]
    options += ["--duration", str(args.flood_duration)]
    options += ["--procs", str(args.flood_procs), *_common(args)]
    flood = run_loadgen(target, "flood", options, window=args.flood_duration)
    out["flood"] = _summarize_load(target, flood, rows_before, n, 0.0)


PHASES: dict[str, Callable[[Target, argparse.Namespace, dict[str, Any]], None]] = {
    "hold": phase_hold,
    "storm": phase_storm,
    "steady": phase_steady,
    "flood": phase_flood,
}


def bench_target(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """The chosen phases against one target; the figures for the table.

    By default the server is restarted (same database) before each phase: a server
    still working off one phase's backlog would otherwise be charged for it in the next.
    """
    out: dict[str, Any] = {"target": target.name, "exit_codes": []}
    target.prepare()
    try:
        for i, name in enumerate(args.phases):
            if i == 0 or args.restart:
                target.start()
                time.sleep(2)
                out.setdefault("rss_idle_mb", round(rss_kb(_pid(target)) / 1024, 1))
            elif i:
                time.sleep(args.pause)
            PHASES[name](target, args, out)
            if target.proc is not None and target.proc.poll() is not None:
                out["server_crashed"] = f"during {name}"
                out["server_log_tail"] = target.log_tail()
                break
            out[f"rss_after_{name}_mb"] = round(rss_kb(_pid(target)) / 1024, 1)
            if args.restart or i == len(args.phases) - 1:
                code = target.stop(keep_log_in=args.logs)
                out["exit_codes"].append(code)
                if code not in (0, -signal.SIGINT, 130):
                    out["server_log_tail"] = target.log_tail()
        if target.kind != "bare" and target.proc is not None and target.proc.poll() is not None:
            # stopped: what the message log buffered is written by now
            out["message_log_rows"] = target.count_rows("ocpp_messages")
            out["message_log_lost"] = target.frames_not_logged()
    finally:
        target.stop(keep_log_in=args.logs)
        target.cleanup()
    return out


def _pid(target: Target) -> int:
    assert target.proc is not None
    return target.proc.pid


def _summarize_load(
    target: Target, phase: Phase, rows_before: int | None, stations: int, period: float
) -> dict[str, Any]:
    """Figures of a steady or flood phase, with the 'nothing lost' verdict."""
    r = phase.result
    window = r["meter_values_window"]
    answered = r["answered"].get("MeterValues", 0)
    sent = r["sent"].get("MeterValues", 0)
    summary: dict[str, Any] = {
        "stations": stations,
        "period_s": period,
        "connected": r["connected"],
        "held_at_end": r["held_at_end"],
        "mv_sent": sent,
        "mv_answered": answered,
        "lost": r["lost"],
        "callerrors": r["callerrors"],
        "dropped": r["dropped"],
        "connect_errors": r["connect_errors"],
        "mv_per_s": r["meter_values_per_s"],
        # ramp start to the last station charging; the window opens after it
        "setup_s": r.get("setup_s"),
        "p50_ms": window["p50_ms"],
        "p99_ms": window["p99_ms"],
        "max_ms": window["max_ms"],
        # CPU over the measured window (falls back to the whole run of the phase)
        "server_cpu_pct": phase.extra.get(
            "server_cpu_pct", round(100 * phase.server_cpu_s / phase.wall_s, 1)
        ),
        "db_cpu_pct": phase.extra.get("db_cpu_pct", round(100 * phase.db_cpu_s / phase.wall_s, 1)),
        "loadgen_cpu_pct": phase.extra.get("loadgen_cpu_pct", r["loadgen_cpu_pct"]),
        # all cores together (200 % = both busy); above server+db+loadgen is someone else
        "machine_cpu_pct": phase.extra.get("machine_cpu_pct"),
        "loadgen_lag_p99_ms": r["loadgen_loop_lag"]["p99_ms"],
        "statuses": r["statuses"],
        "slow_seconds": r.get("slow_seconds"),
        "server_calls": r["server_calls"],
        "errors_sample": r["errors_sample"],
    }
    # CPU per answered MeterValues in the window: a figure the shared cores do not skew
    if summary["mv_per_s"]:
        per_s = summary["mv_per_s"]
        summary["server_us_per_call"] = round(1e4 * summary["server_cpu_pct"] / per_s, 1)
        summary["db_us_per_call"] = round(1e4 * summary["db_cpu_pct"] / per_s, 1)
    rows_after = target.count_rows("meter_values")
    if rows_before is not None and rows_after is not None:
        summary["samples_sent"] = r["samples_sent"]
        summary["meter_value_rows"] = rows_after - rows_before
    nothing_lost = (
        r["lost"] == 0
        and not r["callerrors"]
        and r["dropped"] == 0
        and not r["connect_errors"]
        and answered == sent
        and summary.get("meter_value_rows", r["samples_sent"]) == r["samples_sent"]
    )
    summary["nothing_lost"] = nothing_lost
    summary["ok"] = nothing_lost and window["p99_ms"] < 100
    return summary


# --------------------------------------------------------------------------- report


def _ratio(value: Any, base: Any) -> str:
    if not isinstance(value, int | float) or not isinstance(base, int | float) or not base:
        return ""
    return f"{value / base:.2f}x"


def render(results: list[dict[str, Any]], baseline: str = "bare") -> str:
    """A markdown table: one column per target, each as a ratio of the baseline (the bare
    server, or chargeops with the message log off)."""
    bare = next((r for r in results if r["target"] == baseline), None)

    def steady0(r: dict[str, Any], key: str) -> Any:
        return r["steady"][0].get(key) if r.get("steady") else None

    rows: list[tuple[str, Callable[[dict[str, Any]], Any], bool]] = [
        ("connections held", lambda r: r.get("connections_held"), True),
        ("hold: boots lost (timeouts)", lambda r: r["hold"]["lost"], False),
        (
            "server RSS idle / held, MB",
            lambda r: f"{r.get('rss_idle_mb')} / {r.get('rss_held_mb')}",
            False,
        ),
        ("memory per connection, KB", lambda r: r.get("kb_per_connection"), True),
        ("boot storm, boots/s", lambda r: r.get("storm", {}).get("boots_per_s"), True),
        (
            "boot storm p50 / p99, ms",
            lambda r: _p(r.get("storm", {}).get("latency", {}).get("BootNotification")),
            False,
        ),
        ("boot storm connected / failed handshakes / lost", lambda r: _storm(r["storm"]), False),
        (
            "steady stations x period",
            lambda r: f"{steady0(r, 'stations')} x {steady0(r, 'period_s')} s",
            False,
        ),
        ("steady: all stations set up after, s", lambda r: steady0(r, "setup_s"), True),
        ("steady MeterValues/s", lambda r: steady0(r, "mv_per_s"), True),
        (
            "steady p50 / p99, ms",
            lambda r: f"{steady0(r, 'p50_ms')} / {steady0(r, 'p99_ms')}",
            False,
        ),
        ("steady nothing lost", lambda r: steady0(r, "nothing_lost"), False),
        (
            "steady rows / samples sent",
            lambda r: _rows(r["steady"][0]) if r.get("steady") else None,
            False,
        ),
        ("steady server CPU %", lambda r: steady0(r, "server_cpu_pct"), True),
        ("flood MeterValues/s (durable)", lambda r: r.get("flood", {}).get("mv_per_s"), True),
        ("flood p50 / p99, ms", lambda r: _p(r.get("flood")), False),
        ("flood nothing lost", lambda r: r.get("flood", {}).get("nothing_lost"), False),
        ("flood CPU % server / db / loadgen / machine", lambda r: _cpus(r.get("flood")), False),
        (
            "flood server CPU µs per call",
            lambda r: r.get("flood", {}).get("server_us_per_call"),
            True,
        ),
        ("flood per server core, calls/s", lambda r: _per_core(r.get("flood")), True),
        (
            "message log rows written / frames lost",
            lambda r: f"{r['message_log_rows']} / {r['message_log_lost']}",
            False,
        ),
    ]
    names = [r["target"] for r in results]
    header = ["figure", *names]
    if bare is not None:
        header += [f"{n}/{baseline}" for n in names if n != baseline]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, get, ratio in rows:
        values = [str(_safe(get, r)) for r in results]
        if all(v.startswith("None") for v in values):
            continue  # a phase that was not run
        cells = [label, *values]
        if bare is not None:
            cells += [
                _ratio(_safe(get, r), _safe(get, bare)) if ratio else ""
                for r in results
                if r["target"] != baseline
            ]
        lines.append("| " + " | ".join(cells) + " |")
    for r in results:
        for step in r.get("steady", [])[1:]:
            lines.append(
                f"\n{r['target']} steady {step['stations']} x {step['period_s']} s: "
                f"{step['mv_per_s']}/s p50 {step['p50_ms']} p99 {step['p99_ms']} ms, "
                f"lost {step['lost']}, server CPU {step['server_cpu_pct']} %, ok={step['ok']}"
            )
    return "\n".join(lines)


def _safe(get: Callable[[dict[str, Any]], Any], r: dict[str, Any]) -> Any:
    try:
        return get(r)
    except (KeyError, IndexError, TypeError):
        return None


def _p(summary: dict[str, Any] | None) -> str | None:
    if not summary:
        return None
    return f"{summary.get('p50_ms')} / {summary.get('p99_ms')}"


def _rows(step: dict[str, Any]) -> str:
    if "meter_value_rows" not in step:
        return "n/a"
    return f"{step['meter_value_rows']} / {step['samples_sent']}"


def _storm(storm: dict[str, Any]) -> str:
    failed = sum(storm["connect_errors"].values())
    return f"{storm['connected']} / {failed} / {storm['lost']}"


def _per_core(step: dict[str, Any] | None) -> float | None:
    """What one fully busy core would answer at the measured CPU cost per call."""
    us = (step or {}).get("server_us_per_call")
    return round(1e6 / us) if us else None


def _cpus(step: dict[str, Any] | None) -> str | None:
    if not step:
        return None
    return (
        f"{step['server_cpu_pct']} / {step['db_cpu_pct']} / {step['loadgen_cpu_pct']}"
        f" / {step.get('machine_cpu_pct')}"
    )


# --------------------------------------------------------------------------- main


def _steps(text: str) -> list[tuple[int, float]]:
    """'10000x10,10000x5' -> [(10000, 10.0), (10000, 5.0)]: stations x period steps."""
    steps = []
    for item in text.split(","):
        stations, period = item.lower().split("x")
        steps.append((int(stations), float(period)))
    return steps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="~500 stations, ~20 s phases")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma list of {', '.join(TARGETS)}"
    )
    parser.add_argument("--stations", type=int, help="hold/storm stations (default 10000)")
    parser.add_argument("--steps", type=_steps, help="steady stations x period list")
    parser.add_argument("--duration", type=float, help="steady window, s (default 60)")
    parser.add_argument("--flood-stations", type=int, help="default 1000")
    parser.add_argument("--flood-duration", type=float, help="default 30")
    parser.add_argument("--flood-procs", type=int, default=1, help="loadgen processes in flood")
    parser.add_argument("--procs", type=int, default=1, help="loadgen processes, other phases")
    parser.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="ramp-up connections/s (100: what the server sets up while 10,000 others send)",
    )
    parser.add_argument("--concurrency", type=int, default=1000, help="storm handshakes in flight")
    parser.add_argument("--timeout", type=float, default=30.0, help="per CALL, s")
    parser.add_argument("--settle", type=float, default=3.0, help="s before sampling RSS")
    parser.add_argument("--pause", type=float, default=3.0, help="s between phases")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma list of {', '.join(PHASES)}"
    )
    parser.add_argument(
        "--no-restart",
        dest="restart",
        action="store_false",
        help="one server process for all phases (default: restart it before each phase)",
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="run every --steps step even after a failure"
    )
    parser.add_argument(
        "--baseline",
        default="bare",
        help="the target the others are a ratio of (e.g. sqlite-nolog: the log's cost)",
    )
    parser.add_argument(
        "--message-log-days",
        type=int,
        help="CHARGEOPS_MESSAGE_LOG_DAYS for chargeops targets (0: log off; "
        "default: the server's; a -nolog target is always 0)",
    )
    parser.add_argument("--ocpp-port", type=int, default=9100)
    parser.add_argument("--http-port", type=int, default=8100)
    parser.add_argument("--json", type=Path, help="also write all results to this file")
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this directory")
    parser.add_argument(
        "--ocpp",
        choices=("1.6", "2.0.1"),
        default="1.6",
        help="the chargers' OCPP version (2.0.1: TransactionEvent Updated carries the samples)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.stations = args.stations or (500 if quick else 10_000)
    args.steps = args.steps or [(args.stations, 10.0 if not quick else 2.0)]
    args.duration = args.duration or (20.0 if quick else 60.0)
    args.flood_stations = args.flood_stations or (100 if quick else 1000)
    args.flood_duration = args.flood_duration or (15.0 if quick else 30.0)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.baseline != "bare" and args.baseline not in args.targets:
        parser.error(f"the baseline {args.baseline} is not among the targets")
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(args.phases) - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(set(args.phases) - set(PHASES)))}")
    return args


def _source_version() -> str:
    """Which chargeops was measured: the commit, and whether the tree had changes."""
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="chargeops-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if any(t != "bare" for t in args.targets) and not Path(CHARGEOPS).exists():
        raise SystemExit(f"{CHARGEOPS} not found: install chargeops in this venv first")
    results = []
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    with _workdir() as workdir:
        for name in args.targets:
            print(f"== {name}", file=sys.stderr, flush=True)
            target = Target(name, args.ocpp_port, args.http_port, workdir)
            target.message_log_days = args.message_log_days
            try:
                results.append(bench_target(target, args))
            except Exception as exc:
                print(f"  {name} failed: {exc}", file=sys.stderr, flush=True)
                results.append({"target": name, "error": str(exc)})
    meta = {
        "started": started,
        "chargeops_source": _source_version(),
        "cpus": os.cpu_count(),
        "args": {k: v for k, v in vars(args).items() if k not in ("json", "logs")},
    }
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    source = meta["chargeops_source"]
    print(f"# gateway benchmark {started}, {os.cpu_count()} cores, chargeops {source}\n")
    print(render([r for r in results if "error" not in r], args.baseline))
    for r in results:
        if "error" in r:
            print(f"\n{r['target']}: FAILED: {r['error']}")
        for step in [*r.get("steady", []), *([r["flood"]] if "flood" in r else [])]:
            if not step.get("nothing_lost", True):
                print(f"\n{r['target']}: LOST: {json.dumps(step, default=str)[:1500]}")
        if r.get("server_log_tail"):
            print(f"\n{r['target']} server log tail:\n{r['server_log_tail']}")


if __name__ == "__main__":
    main()
