"""Client commands against a control plane: pipelines (and their runs), agents, start, stop, schedules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from conduix_control.agent.client import ControlClient

__all__ = ["commands"]

_TOKEN = "conduix_control.token"


def _remember_token(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    ctx.meta[_TOKEN] = value
    return value


_url_option = click.option("--control-url", envvar="CONDUIX_CONTROL_URL", default="http://127.0.0.1:8470",
                           show_default=True, help="The control plane's base URL.")
_token_option = click.option("--token", envvar="CONDUIX_CONTROL_TOKEN", default=None, expose_value=False,
                             callback=_remember_token,
                             help="API token (Authorization: Bearer) [$CONDUIX_CONTROL_TOKEN]; reading needs "
                                  "role viewer, changing editor.")


def url_option(f: Any) -> Any:
    """``--control-url`` and ``--token`` (the token goes to :func:`_client` through the click context)."""
    return _url_option(_token_option(f))


def _client(control_url: str) -> ControlClient:
    token = click.get_current_context().meta.get(_TOKEN)
    return ControlClient(control_url, token=token)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _show(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


@click.group("pipelines")
def pipelines() -> None:
    """Pipelines stored in the control plane, with versions."""


@pipelines.command("list")
@url_option
@json_option
def list_pipelines(control_url: str, as_json: bool) -> None:
    rows = _client(control_url).get("/pipelines")
    for row in rows:
        row["agents"] = ",".join(a["agent_id"] for a in row["assignments"])
    _show(rows, ["name", "current_version", "desired", "replicas", "agents"], as_json)


@pipelines.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Default: the YAML's name, else the file name.")
@click.option("--replicas", type=int, default=None)
@click.option("--label", "labels", multiple=True, help="Agent label the pipeline needs, KEY=VALUE.")
@url_option
def apply(file: Path, name: str | None, replicas: int | None, labels: tuple[str, ...], control_url: str) -> None:
    """Validate FILE in the control plane and store it as the pipeline's new version."""
    from conduix.config.yamlsource import safe_load
    from conduix_control.cli import _labels

    text = file.read_text()
    data = safe_load(text, file=str(file))
    name = name or (data.get("name") if isinstance(data, dict) else None) or file.stem
    body: dict[str, Any] = {"yaml": text, "replicas": replicas}
    if labels:
        body["labels"] = _labels(labels)
    result = _client(control_url).put(f"/pipelines/{name}", body)
    state = "new version" if result["changed"] else "unchanged"
    click.echo(f"pipeline {name}: version {result['current_version']} ({state})")


@pipelines.command("rollback")
@click.argument("name")
@click.argument("version", type=int)
@url_option
def rollback(name: str, version: int, control_url: str) -> None:
    """Make VERSION of pipeline NAME current again (restart it to apply to running replicas)."""
    result = _client(control_url).post(f"/pipelines/{name}/rollback", {"version": version})
    click.echo(f"pipeline {name}: version {result['version']} = version {version}")


@pipelines.command("versions")
@click.argument("name")
@url_option
@json_option
def versions(name: str, control_url: str, as_json: bool) -> None:
    _show(_client(control_url).get(f"/pipelines/{name}/versions"), ["version", "comment", "created_at"],
          as_json)


@click.command("agents")
@url_option
@json_option
def agents(control_url: str, as_json: bool) -> None:
    """Agents known to the control plane, with status, channel mode and last heartbeat."""
    _show(_client(control_url).get("/agents"),
          ["id", "host", "status", "mode", "capacity", "labels", "last_heartbeat"], as_json)


@pipelines.command("runs")
@click.option("--pipeline", default=None)
@url_option
@json_option
def runs(pipeline: str | None, control_url: str, as_json: bool) -> None:
    """Recent runs in the control plane: status, counts, errors, parent run.

    (Top-level ``conduix runs`` is core's command for local run records.)"""
    _show(_client(control_url).get("/runs", pipeline=pipeline),
          ["id", "pipeline", "replica", "agent_id", "status", "records_in", "records_out", "errors",
           "parent_run_id", "error"], as_json)


def _action(action: str) -> click.Command:
    @click.command(action)
    @click.argument("pipeline")
    @url_option
    def command(pipeline: str, control_url: str) -> None:
        result = _client(control_url).post(f"/pipelines/{pipeline}/{action}")
        pending = [c for c in result["commands"] if c["state"] == "pending"]
        note = f" ({len(pending)} command(s) stored for delivery by polling)" if pending else ""
        click.echo(f"pipeline {pipeline}: {action} accepted, desired state {result['desired']}{note}")

    command.help = f"{action.capitalize()} PIPELINE on the agents the control plane picks."
    return command


@click.group("schedules")
def schedules() -> None:
    """Cron schedules of pipelines."""


@schedules.command("add")
@click.argument("pipeline")
@click.argument("cron")
@click.option("--timezone", default="UTC", show_default=True)
@url_option
def add_schedule(pipeline: str, cron: str, timezone: str, control_url: str) -> None:
    row = _client(control_url).post("/schedules", {"pipeline": pipeline, "cron": cron, "timezone": timezone})
    click.echo(f"schedule {row['id']}: next runs {', '.join(row['next_runs'][:3])}")


@schedules.command("list")
@url_option
@json_option
def list_schedules(control_url: str, as_json: bool) -> None:
    _show(_client(control_url).get("/schedules"), ["id", "pipeline", "cron", "timezone", "enabled"], as_json)


for _name in ("pause", "resume", "restart"):
    pipelines.add_command(_action(_name))

commands = [pipelines, agents, _action("start"), _action("stop"), schedules]
