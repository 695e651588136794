"""``conduix control serve`` and ``conduix agent start``, added to the ``conduix`` CLI through the
``conduix.cli`` entry-point group; the client commands are in :mod:`conduix_control.cli.client`, the
token and admin-password commands (working on the database directly) in :mod:`conduix_control.cli.admin`."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import click

from conduix_control.cli.admin import admin_password, tokens

__all__ = ["agent", "control"]

logger = logging.getLogger(__name__)


def _labels(value: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in value:
        for part in item.split(","):
            if not part:
                continue
            if "=" not in part:
                raise click.BadParameter(f"{part!r} is not KEY=VALUE", param_hint="--label")
            key, val = part.split("=", 1)
            labels[key.strip()] = val.strip()
    return labels


@click.group("control")
def control() -> None:
    """The control plane: REST API, scheduler, placement, failover."""


@control.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8470, show_default=True, type=int)
@click.option("--db", "db_url", envvar="CONDUIX_CONTROL_DB", default=None,
              help="SQLAlchemy URL: sqlite:///FILE (default, in the state dir), mysql://..., postgresql://...")
@click.option("--redis-url", envvar="CONDUIX_REDIS_URL", default=None,
              help="Redis for the command channel and agent heartbeats (without it: REST only).")
@click.option("--heartbeat-timeout", type=float, default=None, help="Seconds before a silent agent is offline [30].")
@click.option("--heartbeat-interval", type=float, default=None, help="Agents' heartbeat period [5].")
@click.option("--agent-lease", type=float, default=None, help="Lease of a cut-off agent's pipelines [20].")
@click.option("--poll-interval", type=float, default=None, help="Agents' REST polling period [5].")
@click.option("--leader-ttl", type=float, default=None, help="Leader lease of the scheduler [10].")
@click.option("--tick", type=float, default=None, help="Period of the leader's loop [1].")
@click.option("--ack-timeout", type=float, default=None, help="Resend a sent command not acknowledged after [10].")
@click.option("--oidc-discovery-url", default=None,
              help="OIDC provider's .well-known/openid-configuration URL [$CONDUIX_CONTROL_OIDC_DISCOVERY_URL]; "
                   "without it: the local admin account.")
@click.option("--oidc-client-id", default=None, help="[$CONDUIX_CONTROL_OIDC_CLIENT_ID]")
@click.option("--oidc-client-secret", default=None,
              help="[$CONDUIX_CONTROL_OIDC_CLIENT_SECRET] (prefer the variable: options show in `ps`)")
@click.option("--oidc-role-claim", default=None, help="Claim with the user's roles/groups [roles].")
@click.option("--oidc-role-map", default=None, help="CLAIM_VALUE=ROLE,... e.g. 'ops=admin,devs=editor' "
                                                   "[values named viewer/editor/admin].")
@click.option("--oidc-default-role", type=click.Choice(["viewer", "editor", "admin"]), default=None,
              help="Role of users whose claim maps to none [none: they are refused].")
@click.option("--oidc-scopes", default=None, help="[openid profile email]")
@click.option("--public-url", default=None,
              help="Base URL users reach this control plane at; the OIDC redirect URI is PUBLIC_URL/auth/callback "
                   "[$CONDUIX_CONTROL_PUBLIC_URL; default: from the request].")
def serve(host: str, port: int, db_url: str | None, redis_url: str | None, oidc_discovery_url: str | None,
          oidc_client_id: str | None, oidc_client_secret: str | None, oidc_role_claim: str | None,
          oidc_role_map: str | None, oidc_default_role: str | None, oidc_scopes: str | None,
          public_url: str | None, **timings: Any) -> None:
    """Serve the REST API (OpenAPI at /docs) and take part in leader election for scheduling.

    Sign-in: OIDC with the --oidc-* options (or CONDUIX_CONTROL_OIDC_* variables), else a local "admin"
    account whose password is CONDUIX_CONTROL_ADMIN_PASSWORD at first start, or generated and written to
    <state dir>/control/admin-password.
    """
    import uvicorn

    from conduix_control.api import create_app
    from conduix_control.auth import AuthSettings
    from conduix_control.settings import ControlSettings

    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = ControlSettings.from_env(**timings)
    auth = AuthSettings.from_env(
        oidc_discovery_url=oidc_discovery_url, oidc_client_id=oidc_client_id, oidc_client_secret=oidc_client_secret,
        oidc_role_claim=oidc_role_claim, oidc_role_map=oidc_role_map, oidc_default_role=oidc_default_role,
        oidc_scopes=oidc_scopes, public_url=public_url)
    app = create_app(db_url, redis_url=redis_url, settings=settings, auth=auth)
    logger.info("control plane %s on http://%s:%d", settings.instance, host, port)
    uvicorn.run(app, host=host, port=port, log_level=logging.getLevelName(logging.getLogger().level).lower(),
                access_log=False)


control.add_command(tokens)
control.add_command(admin_password)


@click.group("agent")
def agent() -> None:
    """The agent that runs pipelines assigned by a control plane."""


@agent.command("start")
@click.option("--control-url", envvar="CONDUIX_CONTROL_URL", required=True)
@click.option("--redis-url", envvar="CONDUIX_REDIS_URL", default=None,
              help="Redis for pub/sub commands, heartbeats and shared checkpoints (without it: REST only).")
@click.option("--agent-id", default=None, help="Default: the host name.")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE (repeatable, or comma-separated).")
@click.option("--capacity", default=4, show_default=True, type=int, help="Pipelines run at most at once.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Default: $CONDUIX_STATE_DIR/agent-ID.")
@click.option("--checkpoint-store", default=None,
              help="Checkpoint store for pipelines that set none (default: --redis-url, fenced).")
@click.option("--token", envvar="CONDUIX_CONTROL_TOKEN", default=None,
              help="API token with role agent [$CONDUIX_CONTROL_TOKEN]; create one with "
                   "`conduix control tokens create NAME --role agent`.")
def start(control_url: str, redis_url: str | None, agent_id: str | None, labels: tuple[str, ...], capacity: int,
          state_dir: Path | None, checkpoint_store: str | None, token: str | None) -> None:
    """Register with the control plane and run assigned pipelines until SIGTERM / Ctrl-C."""
    import os
    import socket

    from conduix_control.agent import Agent, AgentOptions

    agent_id = agent_id or socket.gethostname()
    base = Path(os.environ.get("CONDUIX_STATE_DIR") or ".conduix")
    options = AgentOptions(control_url=control_url, redis_url=redis_url, agent_id=agent_id,
                           labels=_labels(labels), capacity=capacity,
                           state_dir=(state_dir or base / f"agent-{agent_id}").resolve(),
                           checkpoint_store=checkpoint_store, token=token)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too much at info
    runner = Agent(options)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.stop())
    runner.run()
