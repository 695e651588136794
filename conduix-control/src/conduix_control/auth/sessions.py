"""Server-side sessions: the signed cookie holds a random secret, the database its SHA-256 (``user_sessions``).

A session ends when its row goes: at logout, at a password change (all of the user's sessions but the one that
changed it), when the user is removed, or at ``expires_at``. A copy of an ended session's cookie is worthless.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from conduix_control.db.models import User, UserSession

__all__ = ["end_session", "end_user_sessions", "session_user", "start_session"]

_KEY = "sid"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start_session(request: Request, user: User) -> None:
    """Sign ``user`` in on this browser: a new session row and a fresh cookie content (the old one ended)."""
    end_session(request)
    settings = request.app.state.auth.settings
    secret = secrets.token_urlsafe(32)
    now = time.time()
    with request.app.state.plane.db.session() as s:
        s.execute(delete(UserSession).where(UserSession.expires_at < now))  # tidy up: expired ones
        s.add(UserSession(id=_hash(secret), user_id=user.id, created_at=now,
                          expires_at=now + settings.session_max_age))
        s.commit()
    request.session.update({_KEY: secret})


def session_user(request: Request) -> User | None:
    """The user of this browser's live session, or None (no cookie, or its session ended)."""
    secret = request.session.get(_KEY)
    if not isinstance(secret, str):
        return None
    with request.app.state.plane.db.session() as s:
        user = s.scalars(select(User).join(UserSession, UserSession.user_id == User.id)
                         .where(UserSession.id == _hash(secret), UserSession.expires_at > time.time())).first()
    if user is None:
        request.session.clear()
    return user


def end_session(request: Request) -> None:
    """Logout: this browser's session ends on the server (and its cookie is emptied)."""
    secret = request.session.get(_KEY)
    if isinstance(secret, str):
        with request.app.state.plane.db.session() as s:
            s.execute(delete(UserSession).where(UserSession.id == _hash(secret)))
            s.commit()
    request.session.clear()


def end_user_sessions(s: Session, user_id: int) -> None:
    """End every session of a user (a password change or reset); the caller commits."""
    s.execute(delete(UserSession).where(UserSession.user_id == user_id))
