"""The audit log: who changed what, when, from where (``audit_events``), readable by admins (``GET /audit``).

Every request that may change something (not GET/HEAD/OPTIONS), made by a person or their API token, is
recorded by :func:`install`'s middleware after it is answered, refused ones included (the status says which):
the route (``PUT /pipelines/{name}``), the concrete path, the path parameters. Request bodies are not stored
(they may hold credentials). Sign-ins, failed sign-ins and logouts are recorded by the auth routes. The agent
protocol (agents' own tokens) and checks that change nothing (validate, cron preview) are not recorded.
A route may add to an event's detail through ``request.state.audit_detail`` (what it made, never secrets).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduix_control.auth.roles import AGENT
from conduix_control.db import Database
from conduix_control.db.models import AuditEvent

__all__ = ["AuditTrail", "events", "install", "prune", "record", "remote_address"]

logger = logging.getLogger(__name__)

_READS = {"GET", "HEAD", "OPTIONS"}
#: POST routes that change nothing: asked for as the user types, not worth a line each
_CHECKS = {("POST", "/pipelines/{name}/validate"), ("POST", "/schedules/preview")}
#: recorded by the routes themselves, with what only they know (the user name tried, the outcome)
_OWN = {("POST", "/auth/login"), ("POST", "/auth/logout"), ("POST", "/auth/password")}


def remote_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def record(s: Session, *, actor: str, action: str, target: str | None = None, role: str | None = None,
           via: str | None = None, status: int | None = None, remote: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    """Add one event (the caller commits)."""
    s.add(AuditEvent(at=time.time(), actor=actor[:200], role=role, via=via, action=action[:200],
                     target=None if target is None else target[:500], status=status,
                     remote=None if remote is None else remote[:100], detail=detail))


def events(s: Session, *, limit: int = 100, before: int | None = None, actor: str | None = None,
           action: str | None = None) -> list[AuditEvent]:
    """The newest events first (``before``: those with a smaller id, for the next page)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(s.scalars(query).all())


def prune(s: Session, *, older_than: float) -> int:
    """Delete the events recorded before ``older_than`` (a time.time() value); returns how many (the caller
    commits)."""
    return int(s.execute(delete(AuditEvent).where(AuditEvent.at < older_than)).rowcount or 0)  # type: ignore[attr-defined]


def _store(db: Database, **event: Any) -> None:
    with db.session() as s:
        record(s, **event)
        s.commit()


class AuditTrail:
    """ASGI middleware: once a change request by a person or their token is answered, record it."""

    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched)
        request = Request(scope)  # the routing filled in the route and the identity
        identity = getattr(request.state, "identity", None)
        template = getattr(scope.get("route"), "path_format", None)
        if (identity is None or identity.role == AGENT or template is None
                or (request.method, template) in _CHECKS | _OWN):
            return
        detail = {k: str(v)[:200] for k, v in request.path_params.items()}
        detail.update(getattr(request.state, "audit_detail", None) or {})
        try:
            await run_in_threadpool(_store, self.db, actor=identity.user, role=identity.role, via=identity.via,
                                    action=f"{request.method} {template}", target=request.url.path,
                                    status=status, remote=remote_address(request), detail=detail or None)
        except SQLAlchemyError:  # the change is made and answered; say loudly that its record is not
            logger.exception("could not record %s %s by %s in the audit log", request.method, request.url.path,
                             identity.user)


def install(app: FastAPI, db: Database) -> None:
    """Record every change request by people and their tokens once it has been answered."""
    app.add_middleware(AuditTrail, db=db)
