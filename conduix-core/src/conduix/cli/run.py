"""``conduix run FILE``: run a pipeline standalone, with live progress on a terminal."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from conduix.api import Pipeline, install_signal_handlers
from conduix.cli._common import state_dir_option
from conduix.runtime import PipelineRun, RunResult

if TYPE_CHECKING:
    from rich.table import Table


def _table(run: PipelineRun, rates: dict[str, float]) -> Table:
    from rich.table import Table

    table = Table(title=f"pipeline {run.spec.name} (Ctrl-C stops, drains and flushes)", expand=False)
    for column in ("component", "kind", "type", "in", "out", "rate/s", "errors"):
        table.add_column(column, justify="right" if column in ("in", "out", "rate/s", "errors") else "left")
    for cid, s in run.stats().items():
        table.add_row(cid, s.kind, s.type, f"{s.records_in:,}", f"{s.records_out:,}",
                      f"{rates.get(cid, 0.0):,.0f}", str(s.errors))
    return table


def _live(run: PipelineRun) -> None:
    from rich.console import Console
    from rich.live import Live

    last = {cid: (s.records_in, time.monotonic()) for cid, s in run.stats().items()}
    rates: dict[str, float] = {}
    with Live(_table(run, rates), console=Console(stderr=True), refresh_per_second=4, transient=False) as live:
        while not run.join(0.5):
            now = time.monotonic()
            for cid, s in run.stats().items():
                count, then = last[cid]
                rates[cid] = (s.records_in - count) / max(now - then, 1e-6)
                last[cid] = (s.records_in, now)
            live.update(_table(run, rates))
        duration = run.result.duration if run.result else 0.0
        averages = {cid: s.records_in / duration for cid, s in run.stats().items()} if duration else {}
        live.update(_table(run, averages))  # the final table shows the average rates


def _summary(result: RunResult) -> str:
    lines = [f"pipeline {result.pipeline}: {result.status} in {result.duration:.2f}s"]
    for cid, s in result.stats.items():
        lines.append(f"  {s.kind:<6} {cid:<20} in {s.records_in:>10,}  out {s.records_out:>10,}"
                     + (f"  errors {s.errors}" if s.errors else ""))
    return "\n".join(lines)


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@state_dir_option
@click.option("--progress/--no-progress", default=None,
              help="Live progress table (default: on when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stderr.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve /metrics (Prometheus), /health, /ready, /status and /tap on this port (0: any free one).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
@click.option("--supervised/--in-process", default=None,
              help="Run each slice as a supervised worker process (default: when the pipeline has a "
                   "supervision tree, a 'supervision:' block or settings.workers > 1).")
@click.option("--admin-port", type=click.IntRange(1, 65535), default=None,
              help="Port of the actor system's admin (default: a free port).")
def command(file: Path, state_dir: Path, progress: bool | None, as_json: bool, metrics_port: int | None,
            metrics_host: str, supervised: bool | None, admin_port: int | None) -> None:
    """Run the pipeline in FILE until its sources end or it is stopped (Ctrl-C / SIGTERM).

    Exit codes: 0 succeeded, 1 the run failed (or its supervisor gave up), 2 bad config or usage.
    """
    pipeline = Pipeline.from_yaml(file)
    for warning in pipeline.spec.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if progress is None:
        progress = sys.stderr.isatty()
    from conduix.runtime.supervised import wants_supervision

    if supervised or (supervised is None and wants_supervision(pipeline.spec)):
        _run_supervised(pipeline, state_dir, as_json, admin_port, metrics_port, metrics_host)
        return
    run = pipeline.create_run(state_dir=state_dir)
    telemetry, server = _observability(pipeline, run, metrics_port, metrics_host)
    restore = install_signal_handlers(run)
    try:
        run.start()
        if progress:
            _live(run)
        else:
            while not run.join(0.2):
                pass
    finally:
        restore()
        if server is not None:
            server.stop()
        if telemetry is not None:
            telemetry.shutdown()
    result = run.result
    assert result is not None
    if as_json:
        click.echo(orjson.dumps(result.as_dict()).decode(), err=True)
    elif not progress:
        click.echo(_summary(result), err=True)
    else:
        click.echo(f"pipeline {result.pipeline}: {result.status} in {result.duration:.2f}s", err=True)
    if not result.ok:
        click.secho(f"error: {result.error}", fg="red", err=True)
        sys.exit(1)


def _run_supervised(pipeline: Pipeline, state_dir: Path, as_json: bool, admin_port: int | None,
                    metrics_port: int | None, metrics_host: str) -> None:
    import signal
    import threading

    from conduix.runtime.supervised import run_supervised

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    last_report = [0.0]

    backend: Any = None
    servers: list[Any] = []
    if metrics_port is not None:
        from conduix.observability.supervised_backend import SupervisedBackend

        backend = SupervisedBackend(pipeline.spec.name)

    def report(status: dict[str, Any]) -> None:
        if backend is not None:
            if not servers:  # started once the actor system has forked: no server thread in its processes
                from conduix.observability.server import ObservabilityServer

                servers.append(ObservabilityServer(backend, metrics_host, metrics_port or 0).start())
                click.echo(f"metrics: {servers[0].url}/metrics (also /health, /ready, /status)", err=True)
            backend.update(status)
        if time.monotonic() - last_report[0] >= 5 and sys.stderr.isatty():
            last_report[0] = time.monotonic()
            click.echo(f"supervision: {status.get('state')}, restarts {status.get('restarts', 0)}", err=True)

    try:
        result = run_supervised(pipeline.spec, state_dir=state_dir, admin_port=admin_port,
                                stop_requested=stop.is_set, on_status=report)
    finally:
        for server in servers:
            server.stop()
    summary: dict[str, Any] = {"pipeline": result.pipeline, "status": result.status, "reason": result.reason,
               "duration": round(result.duration, 3), "restarts": result.restarts(),
               "workers": {wid: {"state": w.get("state"), "restarts": w.get("restarts", 0),
                                 "components": (w.get("task") or {}).get("components", {})}
                           for wid, w in result.workers().items()}}
    if as_json:
        click.echo(orjson.dumps(summary).decode(), err=True)
    else:
        click.echo(f"pipeline {result.pipeline}: {result.status} in {result.duration:.2f}s "
                   f"({len(summary['workers'])} workers, {summary['restarts']} restarts)", err=True)
    if not result.ok:
        click.secho(f"error: pipeline {result.pipeline} {result.status}: {result.reason}", fg="red", err=True)
        sys.exit(1)


def _observability(pipeline: Pipeline, run: PipelineRun, port: int | None, host: str) -> tuple[Any, Any]:
    settings = pipeline.spec.settings.telemetry
    if port is None and not (settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return None, None
    from conduix.observability import Telemetry
    from conduix.observability.server import ObservabilityServer

    telemetry = Telemetry(settings, prometheus=port is not None)
    telemetry.attach(run)
    server = None
    if port is not None:
        server = ObservabilityServer(telemetry, host, port).start()
        click.echo(f"metrics: {server.url}/metrics (also /health, /ready, /status, /tap/COMPONENT)", err=True)
    return telemetry, server
