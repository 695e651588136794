"""``conduix control tokens``, ``admin-password`` and ``migrate``: straight on the database, so they work
before anyone can sign in (bootstrapping agents and automation, a forgotten admin password, upgrades)."""

from __future__ import annotations

import sys

import click

__all__ = ["admin_password", "migrate", "tokens"]

db_option = click.option("--db", "db_url", envvar="CONDUIX_CONTROL_DB", default=None,
                         help="The control plane's database URL, as for `control serve` "
                              "[$CONDUIX_CONTROL_DB, else the SQLite file in the state dir].")


@click.group("tokens")
def tokens() -> None:
    """API tokens (Authorization: Bearer cdx_...) for agents and automation."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin", "agent"]), required=True,
              help="agent: for `conduix agent start --token`; viewer/editor/admin: for people's automation.")
@click.option("--agent-id", default=None,
              help="Role agent: the agent id (--agent-id of `conduix agent start`) the token works for [NAME].")
@click.option("--expires-in-days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="The token stops working this many days from now [never: until revoked].")
@db_option
def create(name: str, role: str, agent_id: str | None, expires_in_days: float | None, db_url: str | None) -> None:
    """Create a token called NAME and print it (once: only its hash is stored). An agent token works for one
    agent id only: NAME, or --agent-id."""
    from conduix_control.auth.tokens import create_token
    from conduix_control.db import Database

    db = Database(db_url).open()
    try:
        with db.session() as s:
            row, text = create_token(s, name, role, created_by="cli", agent_id=agent_id,
                                     expires_in_days=expires_in_days)
    finally:
        db.close()
    bound = f", agent {row.agent_id}" if row.agent_id else ""
    click.echo(f"token {row.id} {row.name!r} (role {role}{bound}); shown once, store it now:", err=True)
    click.echo(text)


@tokens.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(db_url: str | None, as_json: bool) -> None:
    """Tokens not revoked (their prefix only; the secret is never stored)."""
    from conduix_control.auth.tokens import list_tokens, token_dict
    from conduix_control.cli.client import _show
    from conduix_control.db import Database

    db = Database(db_url).open()
    try:
        with db.session() as s:
            rows = [token_dict(t) for t in list_tokens(s)]
    finally:
        db.close()
    _show(rows, ["id", "name", "role", "agent_id", "prefix", "created_by", "created_at", "last_used_at",
                 "expires_at"], as_json)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@db_option
def revoke(token_id: int, db_url: str | None) -> None:
    """Revoke token TOKEN_ID: requests carrying it get 401 from then on."""
    from conduix_control.auth.tokens import revoke_token
    from conduix_control.db import Database

    db = Database(db_url).open()
    try:
        with db.session() as s:
            row = revoke_token(s, token_id)
    finally:
        db.close()
    click.echo(f"token {row.id} {row.name!r} revoked")


@click.command("admin-password")
@db_option
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def admin_password(db_url: str | None, password_stdin: bool) -> None:
    """Set the local "admin" account's password (creating the account if needed): its sessions end, its
    failed sign-ins are forgotten and the first-start password file is removed."""
    from conduix_control.auth import AuthSettings
    from conduix_control.auth.local import ADMIN, set_password
    from conduix_control.db import Database

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New admin password", hide_input=True, confirmation_prompt=True)
    db = Database(db_url).open()
    try:
        set_password(db, ADMIN, password, password_file=AuthSettings.from_env().admin_password_file)
    finally:
        db.close()
    click.echo("password of the local admin account changed")


@click.command("migrate")
@db_option
def migrate(db_url: str | None) -> None:
    """Bring the database schema to this version's (Alembic migrations) and exit.

    `control serve` does the same at start; run this first when upgrading several control-plane instances on
    MySQL/MariaDB, whose schema changes are not transactional (docs/deployment.md, "Upgrades").
    """
    from conduix_control.db import Database, current_revision

    db = Database(db_url)
    try:
        before = current_revision(db.engine)
        db.open()
        after = current_revision(db.engine)
    finally:
        db.close()
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))
