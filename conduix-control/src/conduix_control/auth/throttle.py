"""Login throttling: after ``login_max_failures`` failed sign-ins for one user name within ``login_lockout``
seconds, that name is refused (429) until the oldest of them is that old, whether the user exists or not.

Failures are rows in the database (``login_failures``), so every instance of the control plane counts them.
Like Grafana's brute-force protection, this lets whoever knows a user name lock that user out for a while;
`conduix control admin-password` clears the admin's failures.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from conduix_control.auth.settings import AuthSettings
from conduix_control.db.models import LoginFailure

__all__ = ["clear_failures", "locked_for", "record_failure"]


def locked_for(s: Session, username: str, settings: AuthSettings, now: float | None = None) -> float:
    """Seconds until ``username`` may try again (0: now)."""
    now = time.time() if now is None else now
    recent = s.scalars(select(LoginFailure.at).where(LoginFailure.username == username,
                                                     LoginFailure.at > now - settings.login_lockout)
                       .order_by(LoginFailure.at.desc()).limit(settings.login_max_failures)).all()
    if len(recent) < settings.login_max_failures:
        return 0.0
    return max(0.0, recent[-1] + settings.login_lockout - now)


def record_failure(s: Session, username: str, remote: str | None, settings: AuthSettings) -> None:
    """Count a failed sign-in (and forget those older than the lockout); the caller commits."""
    now = time.time()
    s.execute(delete(LoginFailure).where(LoginFailure.at <= now - settings.login_lockout))
    s.add(LoginFailure(username=username[:200], remote=None if remote is None else remote[:100], at=now))


def clear_failures(s: Session, username: str) -> None:
    """After a successful sign-in or a password reset; the caller commits."""
    s.execute(delete(LoginFailure).where(LoginFailure.username == username))
