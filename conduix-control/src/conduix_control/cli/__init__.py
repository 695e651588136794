"""``conduix control serve`` and ``conduix agent start``, added to the ``conduix`` CLI through the
``conduix.cli`` entry-point group; the client commands are in :mod:`conduix_control.cli.client`, the
token and admin-password commands (working on the database directly) in :mod:`conduix_control.cli.admin`."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import click

from conduix_control.cli.admin import admin_password, migrate, tokens
from conduix_control.cli.config_file import config_option

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


def redis_option(func: Any) -> Any:
    """``--redis NAME=VALUE`` (repeatable; ``redis:`` mapping in the settings file): ResilientClient settings."""
    return click.option(
        "--redis", "redis_settings", multiple=True, metavar="NAME=VALUE",
        help="A Redis client setting, e.g. max_backoff=30s (repeatable; in the settings file a 'redis:' mapping); "
             "see docs/control-plane.md [$CONDUIX_REDIS_<NAME>].")(func)


def _redis_settings(values: tuple[str, ...]) -> Any:
    """The ResilientClient settings: ``--redis`` beats ``CONDUIX_REDIS_*``, which beats the settings file."""
    from conduix_control.redis_client import ResilientSettings

    given: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--redis")
        given[name.strip()] = value.strip()
    source = click.get_current_context().get_parameter_source("redis_settings")
    return ResilientSettings.load(given, given_wins=source == click.core.ParameterSource.COMMANDLINE)


@click.group("control")
def control() -> None:
    """The control plane: REST API, scheduler, placement, failover."""


@control.command("serve")
@config_option("control")
@click.option("--host", envvar="CONDUIX_CONTROL_HOST", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface) [$CONDUIX_CONTROL_HOST].")
@click.option("--port", envvar="CONDUIX_CONTROL_PORT", default=8470, show_default=True, type=int,
              help="[$CONDUIX_CONTROL_PORT]")
@click.option("--db", "db_url", envvar="CONDUIX_CONTROL_DB", default=None,
              help="SQLAlchemy URL: sqlite:///FILE (default, in the state dir), mysql://..., postgresql://...")
@click.option("--redis-url", envvar="CONDUIX_REDIS_URL", default=None,
              help="Redis for the command channel and agent heartbeats (without it: REST only).")
@redis_option
@click.option("--heartbeat-timeout", envvar="CONDUIX_CONTROL_HEARTBEAT_TIMEOUT",
              type=float, default=None, help="Seconds before a silent agent is offline [30].")
@click.option("--heartbeat-interval", envvar="CONDUIX_CONTROL_HEARTBEAT_INTERVAL",
              type=float, default=None, help="Agents' heartbeat period [5].")
@click.option("--agent-lease", envvar="CONDUIX_CONTROL_AGENT_LEASE",
              type=float, default=None, help="Lease of a cut-off agent's pipelines [20].")
@click.option("--poll-interval", envvar="CONDUIX_CONTROL_POLL_INTERVAL",
              type=float, default=None, help="Agents' REST polling period [5].")
@click.option("--leader-ttl", envvar="CONDUIX_CONTROL_LEADER_TTL",
              type=float, default=None, help="Leader lease of the scheduler [10].")
@click.option("--tick", envvar="CONDUIX_CONTROL_TICK",
              type=float, default=None, help="Period of the leader's loop [1].")
@click.option("--ack-timeout", envvar="CONDUIX_CONTROL_ACK_TIMEOUT",
              type=float, default=None, help="Resend a sent command not acknowledged after [10].")
@click.option("--max-body-bytes", envvar="CONDUIX_CONTROL_MAX_BODY_BYTES", type=click.IntRange(min=1024),
              default=None, help="Answer larger request bodies 413 [2097152].")
@click.option("--audit-retention-days", envvar="CONDUIX_CONTROL_AUDIT_RETENTION_DAYS",
              type=click.FloatRange(min=0), default=None, help="Delete audit events older than this; 0 keeps "
                                                                 "them all [365].")
@click.option("--deployment", envvar="CONDUIX_CONTROL_DEPLOYMENT", default=None,
              help="Prefix of this deployment's Redis keys and channels, conduix:NAME: [$CONDUIX_CONTROL_DEPLOYMENT, "
                   "else a random name stored in the database]; agents learn it when they register.")
@click.option("--oidc-discovery-url", envvar="CONDUIX_CONTROL_OIDC_DISCOVERY_URL", default=None,
              help="OIDC provider's .well-known/openid-configuration URL [$CONDUIX_CONTROL_OIDC_DISCOVERY_URL]; "
                   "without it: the local admin account.")
@click.option("--oidc-client-id", envvar="CONDUIX_CONTROL_OIDC_CLIENT_ID",
              default=None, help="[$CONDUIX_CONTROL_OIDC_CLIENT_ID]")
@click.option("--oidc-client-secret", envvar="CONDUIX_CONTROL_OIDC_CLIENT_SECRET", default=None,
              help="[$CONDUIX_CONTROL_OIDC_CLIENT_SECRET] (prefer the variable: options show in `ps`)")
@click.option("--oidc-role-claim", envvar="CONDUIX_CONTROL_OIDC_ROLE_CLAIM",
              default=None, help="Claim with the user's roles/groups [roles].")
@click.option("--oidc-role-map", envvar="CONDUIX_CONTROL_OIDC_ROLE_MAP",
              default=None, help="CLAIM_VALUE=ROLE,... e.g. 'ops=admin,devs=editor' "
                                                   "[values named viewer/editor/admin].")
@click.option("--oidc-default-role", envvar="CONDUIX_CONTROL_OIDC_DEFAULT_ROLE",
              type=click.Choice(["viewer", "editor", "admin"]), default=None,
              help="Role of users whose claim maps to none [none: they are refused].")
@click.option("--oidc-scopes", envvar="CONDUIX_CONTROL_OIDC_SCOPES", default=None, help="[openid profile email]")
@click.option("--public-url", envvar="CONDUIX_CONTROL_PUBLIC_URL", default=None,
              help="Base URL users reach this control plane at; the OIDC redirect URI is PUBLIC_URL/auth/callback "
                   "[$CONDUIX_CONTROL_PUBLIC_URL; default: from the request].")
@click.option("--pipelines-dir", envvar="CONDUIX_CONTROL_PIPELINES_DIR", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Store each *.yaml here as its pipeline's new version at start when changed (a ConfigMap, "
                   "/etc/conduix/pipelines) [$CONDUIX_CONTROL_PIPELINES_DIR].")
def serve(host: str, port: int, db_url: str | None, redis_url: str | None, oidc_discovery_url: str | None,
          oidc_client_id: str | None, oidc_client_secret: str | None, oidc_role_claim: str | None,
          oidc_role_map: str | None, oidc_default_role: str | None, oidc_scopes: str | None,
          public_url: str | None, pipelines_dir: Path | None, redis_settings: tuple[str, ...],
          **timings: Any) -> None:
    """Serve the REST API (OpenAPI at /docs) and take part in leader election for scheduling.

    Sign-in: OIDC with the --oidc-* options (or CONDUIX_CONTROL_OIDC_* variables), else a local "admin"
    account whose password is CONDUIX_CONTROL_ADMIN_PASSWORD at first start, or generated and written to
    <state dir>/control/admin-password. CONDUIX_CONTROL_AGENT_TOKENS (AGENT_ID=cdx_...,...) are stored at start as
    the tokens of those agents, for deployments that hand each agent its own secret.
    """
    import uvicorn

    from conduix_control.api import create_app
    from conduix_control.auth import AuthSettings
    from conduix_control.settings import ControlSettings

    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = ControlSettings.from_env(**timings)
    resilience = _redis_settings(redis_settings)
    auth = AuthSettings.from_env(
        oidc_discovery_url=oidc_discovery_url, oidc_client_id=oidc_client_id, oidc_client_secret=oidc_client_secret,
        oidc_role_claim=oidc_role_claim, oidc_role_map=oidc_role_map, oidc_default_role=oidc_default_role,
        oidc_scopes=oidc_scopes, public_url=public_url)
    app = create_app(db_url, redis_url=redis_url, settings=settings, auth=auth, redis_settings=resilience)
    if pipelines_dir is not None:
        from conduix_control.service.pipeline_files import apply_pipeline_files

        apply_pipeline_files(app.state.plane.db, pipelines_dir)
    logger.info("control plane %s on http://%s:%d", settings.instance, host, port)
    uvicorn.run(app, host=host, port=port, log_level=logging.getLevelName(logging.getLogger().level).lower(),
                access_log=False)


control.add_command(tokens)
control.add_command(admin_password)
control.add_command(migrate)


@click.group("agent")
def agent() -> None:
    """The agent that runs pipelines assigned by a control plane."""


@agent.command("start")
@config_option("agent")
@click.option("--control-url", envvar="CONDUIX_CONTROL_URL", required=True)
@click.option("--redis-url", envvar="CONDUIX_REDIS_URL", default=None,
              help="Redis for pub/sub commands, heartbeats and shared checkpoints (without it: REST only).")
@redis_option
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
@click.option("--allow-code", is_flag=True, envvar="CONDUIX_AGENT_ALLOW_CODE",
              help="Run components that run code a pipeline names (python stages) [off; $CONDUIX_AGENT_ALLOW_CODE].")
@click.option("--allow-path", "allow_paths", multiple=True, type=click.Path(path_type=Path),
              envvar="CONDUIX_AGENT_ALLOW_PATHS",
              help="A folder pipelines may read and write files in (repeatable) [STATE_DIR/files; "
                   "$CONDUIX_AGENT_ALLOW_PATHS, separated by spaces].")
@click.option("--allow-host", "allow_hosts", multiple=True, envvar="CONDUIX_AGENT_ALLOW_HOSTS",
              help="A host pipelines may connect to: name, *.domain or network (10.0.0.0/8); repeatable "
                   "[any; $CONDUIX_AGENT_ALLOW_HOSTS, separated by spaces].")
@click.option("--metrics-host", envvar="CONDUIX_AGENT_METRICS_HOST", default="127.0.0.1", show_default=True,
              help="Where /metrics, /health, /ready and /status listen [$CONDUIX_AGENT_METRICS_HOST]; the image "
                   "sets 0.0.0.0.")
@click.option("--metrics-port", envvar="CONDUIX_AGENT_METRICS_PORT", default=9599, show_default=True, type=int,
              help="Their port (0: a free one) [$CONDUIX_AGENT_METRICS_PORT].")
def start(control_url: str, redis_url: str | None, agent_id: str | None, labels: tuple[str, ...], capacity: int,
          state_dir: Path | None, checkpoint_store: str | None, token: str | None, allow_code: bool,
          allow_paths: tuple[Path, ...], allow_hosts: tuple[str, ...], metrics_host: str, metrics_port: int,
          redis_settings: tuple[str, ...]) -> None:
    """Register with the control plane and run assigned pipelines until SIGTERM / Ctrl-C.

    What pipelines may reach on this machine is the agent's to say (docs/security.md): no code (python
    stages) unless --allow-code, files only under --allow-path folders (default STATE_DIR/files), and
    connections only to --allow-host hosts when any is given."""
    import os
    import socket

    from conduix_control.agent import Agent, AgentOptions

    agent_id = agent_id or socket.gethostname()
    base = Path(os.environ.get("CONDUIX_STATE_DIR") or ".conduix")
    options = AgentOptions(control_url=control_url, redis_url=redis_url, agent_id=agent_id,
                           labels=_labels(labels), capacity=capacity,
                           state_dir=(state_dir or base / f"agent-{agent_id}").resolve(),
                           checkpoint_store=checkpoint_store, token=token, allow_code=allow_code,
                           allow_paths=[p.resolve() for p in allow_paths] or None,
                           allow_hosts=list(allow_hosts) or None, metrics_host=metrics_host,
                           metrics_port=metrics_port, redis_settings=_redis_settings(redis_settings))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too much at info
    runner = Agent(options)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.stop())
    runner.run()
