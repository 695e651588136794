"""What the routes share: the database, the settings, the command bus (set on ``app.state``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from conduix_control.db import Database
from conduix_control.keys import Keys
from conduix_control.redis_client import ResilientClient
from conduix_control.service.commands import CommandBus
from conduix_control.settings import ControlSettings

__all__ = ["Plane", "plane", "session", "to_dict"]


@dataclass
class Plane:
    db: Database
    settings: ControlSettings
    redis: ResilientClient | None
    bus: CommandBus
    keys: Keys
    leader: Any = None  # the LeaderLoop, once started


def plane(request: Request) -> Plane:
    return request.app.state.plane


def session(request: Request) -> Iterator[Session]:
    with request.app.state.plane.db.session() as s:
        yield s


def to_dict(row: Any) -> dict[str, Any]:
    """A model row as JSON-ready data (its columns)."""
    return {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs}
