"""The FastAPI application of the control plane (``conduix control serve``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from conduix.errors import ConfigError
from conduix_control.api import routes_agents, routes_metrics, routes_pipelines, routes_runs
from conduix_control.api.deps import Plane
from conduix_control.api.limits import BodyLimit
from conduix_control.auth import AuthSettings, authorize, browser, install
from conduix_control.db import Database
from conduix_control.errors import ControlError, ForbiddenError, NotFoundError, ValidationFailedError
from conduix_control.keys import Keys, deployment_name
from conduix_control.redis_client import ResilientClient, ResilientSettings
from conduix_control.scheduler.loop import LeaderLoop
from conduix_control.service.commands import CommandBus
from conduix_control.service.pipelines import config_errors
from conduix_control.settings import ControlSettings
from conduix_control.webui import mount_ui

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(db_url: str | None = None, *, redis_url: str | None = None,
               settings: ControlSettings | None = None, run_leader: bool = True,
               auth: AuthSettings | None = None, redis_settings: ResilientSettings | None = None) -> FastAPI:
    """The API with its database migrated; the leader's loop runs while the app is served.

    Every API route is checked by :func:`conduix_control.auth.authorize` against the policy table in
    :mod:`conduix_control.auth.roles` (one app-wide dependency, so routes added later are covered too).
    """
    settings = settings or ControlSettings.from_env()
    auth = auth or AuthSettings.from_env()
    db = Database(db_url).open()
    redis = ResilientClient(redis_url, redis_settings or ResilientSettings.from_env()) if redis_url else None
    keys = Keys(deployment_name(db, settings.deployment))
    plane = Plane(db=db, settings=settings, redis=redis, bus=CommandBus(redis, keys), keys=keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_leader:
            plane.leader = LeaderLoop(db, settings, redis, plane.bus).start()
        try:
            yield
        finally:
            if plane.leader is not None:
                plane.leader.stop()
            if redis is not None:
                redis.close()
            db.close()

    app = FastAPI(title="Conduix control plane", version="0.1.0", lifespan=lifespan,
                  description="Pipelines with versions, agents, assignments, runs, schedules and commands. "
                              "Send an API token as `Authorization: Bearer cdx_...` (or sign in: session cookie).",
                  dependencies=[Depends(authorize)])
    app.state.plane = plane
    install(app, db, auth)
    for module in (routes_pipelines, routes_agents, routes_runs, routes_metrics):
        app.include_router(module.router)
    mount_ui(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    browser.install(app, auth)  # outermost: cross-site requests stop here, every answer gets its headers

    @app.exception_handler(ValidationFailedError)
    async def invalid(request: Request, exc: ValidationFailedError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc), "errors": config_errors(exc)})

    @app.exception_handler(ForbiddenError)
    async def forbidden(request: Request, exc: ForbiddenError) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": str(exc)})

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(ConfigError)
    async def bad_request(request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(ControlError)
    async def refused(request: Request, exc: ControlError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    return app
