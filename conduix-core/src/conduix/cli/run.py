"""``conduix run FILE``: run a pipeline standalone, with live progress on a terminal."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
import orjson

from conduix.api import Pipeline, install_signal_handlers
from conduix.cli._common import started, state_dir_option
from conduix.runtime import RunResult

if TYPE_CHECKING:
    from rich.table import Table

    from conduix.api import Run


def _table(run: Run, rates: dict[str, float]) -> Table:
    from rich.table import Table

    table = Table(title=f"pipeline {run.spec.name} (Ctrl-C stops, drains and flushes)", expand=False)
    for column in ("component", "kind", "type", "in", "out", "rate/s", "errors"):
        table.add_column(column, justify="right" if column in ("in", "out", "rate/s", "errors") else "left")
    for cid, s in run.stats().items():
        table.add_row(cid, s.kind, s.type, f"{s.records_in:,}", f"{s.records_out:,}",
                      f"{rates.get(cid, 0.0):,.0f}", str(s.errors))
    return table


def _live(run: Run) -> None:
    from rich.console import Console
    from rich.live import Live

    started = time.monotonic()
    last = {cid: (s.records_in, started) for cid, s in run.stats().items()}
    rates: dict[str, float] = {}
    metrics = _MetricsNotice(run)
    with Live(_table(run, rates), console=Console(stderr=True), refresh_per_second=4, transient=False) as live:
        while not run.join(0.5):
            metrics.check()
            now = time.monotonic()
            for cid, s in run.stats().items():  # a supervised run's counters come with the workers' heartbeats
                count, then = last.get(cid, (0, started))
                rates[cid] = (s.records_in - count) / max(now - then, 1e-6)
                last[cid] = (s.records_in, now)
            live.update(_table(run, rates))
        duration = run.result.duration if run.result else 0.0
        averages = {cid: s.records_in / duration for cid, s in run.stats().items()} if duration else {}
        live.update(_table(run, averages))  # the final table shows the average rates


def _summary(result: RunResult) -> str:
    lines = [_headline(result)]
    for cid, s in result.stats.items():
        lines.append(f"  {s.kind:<6} {cid:<20} in {s.records_in:>10,}  out {s.records_out:>10,}"
                     + (f"  errors {s.errors}" if s.errors else ""))
    return "\n".join(lines)


def _headline(result: RunResult) -> str:
    errors = result.errors
    status = f"{result.status} with errors" if errors and result.ok else result.status
    line = f"pipeline {result.pipeline}: {status} in {result.duration:.2f}s"
    if result.supervised:
        line += f" ({len(result.workers)} workers, {result.restarts} restarts)"
    if errors:  # a failed run's counts include its component's failure: not only records
        line += (f"; {sum(errors.values()):,} record errors (" if result.ok else "; errors (") + \
            ", ".join(f"{cid}: {n:,}" for cid, n in errors.items()) + ")"
    return line


RECORD_ERRORS = 3
"""Exit status of a run that completed while components failed on records."""


class _MetricsNotice:
    """Says once where the run's metrics are served, as soon as they are (a supervised run serves them
    once its actor system has started)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.told = False

    def check(self) -> None:
        url = self.run.metrics_url
        if url and not self.told:
            self.told = True
            click.echo(f"metrics: {url}/metrics (also /health, /ready, /status"
                       f"{'' if self.run.supervised else ', /tap/COMPONENT'})", err=True)


def _wait(run: Run) -> None:
    metrics = _MetricsNotice(run)
    while not run.join(0.2):
        metrics.check()


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

    Exit codes: 0 succeeded (or stopped), 1 the run failed (or its supervisor gave up), 2 bad config or usage,
    3 the run completed but components failed on records (dropped, dead-lettered, or passed on unchanged by a
    failing remap program; the summary counts them per component).
    """
    pipeline = Pipeline.from_yaml(file)
    for warning in pipeline.spec.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if progress is None:
        progress = sys.stderr.isatty()
    run = pipeline.prepare(state_dir=state_dir, supervised=supervised, metrics_port=metrics_port,
                           metrics_host=metrics_host, admin_port=admin_port)
    started()
    restore = install_signal_handlers(run)
    try:
        run.start()
        if progress:
            _live(run)
        else:
            _wait(run)
    finally:
        restore()
    result = run.result
    assert result is not None
    if as_json:
        click.echo(orjson.dumps(result.as_dict()).decode(), err=True)
    elif not progress:
        click.echo(_summary(result), err=True)
    else:
        click.echo(_headline(result), err=True)
    if not result.ok:
        click.secho(f"error: {result.error}", fg="red", err=True)
        sys.exit(1)
    if result.errors:
        sys.exit(RECORD_ERRORS)
