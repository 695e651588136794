"""``conduix tap`` and ``conduix top``: watch a running pipeline through its observability endpoint."""

from __future__ import annotations

import time
from typing import Any

import click
import httpx

from conduix.errors import ConduixError

DEFAULT_URL = "http://127.0.0.1:9598"

_url_option = click.option("--url", default=DEFAULT_URL, show_default=True, envvar="CONDUIX_URL",
                           help="The endpoint of `conduix run --metrics-port` (or of an agent).")


def _get(client: httpx.Client, url: str) -> dict[str, Any]:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise ConduixError(f"cannot reach {url}: {exc}; start the pipeline with "
                           "`conduix run FILE --metrics-port PORT` and pass --url") from None
    if response.status_code == 404:
        raise ConduixError(f"{url}: {response.json().get('error', 'not found')}")
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@click.command("tap")
@click.argument("target")
@_url_option
@click.option("-n", "--limit", default=20, show_default=True, help="Records to print, then stop.")
@click.option("--output", default=None, help="A named output of the component (e.g. dead_letter).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for records.")
def tap(target: str, url: str, limit: int, output: str | None, timeout: float) -> None:
    """Print a live sample of the records leaving a component: TARGET is COMPONENT or PIPELINE/COMPONENT."""
    params: dict[str, Any] = {"limit": limit, "timeout": timeout}
    if output:
        params["output"] = output
    try:
        with httpx.stream("GET", f"{url.rstrip('/')}/tap/{target.strip('/')}", params=params,
                          timeout=httpx.Timeout(timeout + 10)) as response:
            if response.status_code == 404:
                response.read()
                body = response.json()
                raise ConduixError(f"{body.get('error')}; running components: {', '.join(body.get('known', []))}")
            for line in response.iter_lines():
                if line:
                    click.echo(line)
    except httpx.HTTPError as exc:
        raise ConduixError(f"cannot reach {url}: {exc}; start the pipeline with "
                           "`conduix run FILE --metrics-port PORT` and pass --url") from None


@click.command("top")
@_url_option
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print one table and exit (for scripts).")
def top(url: str, interval: float, once: bool) -> None:
    """Per-component rates of the running pipelines, refreshed in the terminal."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    client = httpx.Client(timeout=5)
    previous: dict[tuple[str, str], tuple[int, float]] = {}

    def table() -> Table:
        data = _get(client, f"{url.rstrip('/')}/status")
        grid = Table(title=f"conduix top - {url}")
        for column in ("pipeline", "component", "kind", "in", "out", "in/s", "errors", "dead letters", "buffered"):
            grid.add_column(column, justify="left" if column in ("pipeline", "component", "kind") else "right")
        now = time.monotonic()
        for pipeline in data["pipelines"]:
            for cid, s in pipeline["components"].items():
                key = (pipeline["pipeline"], cid)
                count, then = previous.get(key, (s["records_in"], now))
                rate = (s["records_in"] - count) / (now - then) if now > then else 0.0
                previous[key] = (s["records_in"], now)
                grid.add_row(pipeline["pipeline"], cid, s["kind"], f"{s['records_in']:,}", f"{s['records_out']:,}",
                             f"{rate:,.0f}", str(s["errors"]), str(s["dead_letters"]), str(s["buffered"]))
        return grid

    console = Console()
    if once:
        console.print(table())
        return
    with Live(table(), console=console, refresh_per_second=4) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(table())
        except KeyboardInterrupt:
            pass


commands = [tap, top]
