"""The local admin account (no OIDC provider configured) and the session key every instance shares.

Both are created by whichever instance starts first; the unique constraints make a concurrent start of two
instances on one database safe (the loser of the race reads what the winner wrote).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from conduix_control.auth.passwords import generate_password, hash_password
from conduix_control.auth.settings import AuthSettings
from conduix_control.db import Database
from conduix_control.db.models import Secret, User
from conduix_control.errors import NotFoundError

__all__ = ["ADMIN", "ensure_admin", "session_key", "set_password"]

logger = logging.getLogger(__name__)

ADMIN = "admin"
SESSION_KEY = "session_key"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)  # an older file may have been readable by others


def ensure_admin(db: Database, settings: AuthSettings) -> bool:
    """Create the local ``admin`` user on first start; True when this call created it.

    Its password is ``settings.admin_password``, else a generated one, logged once and written to
    ``<state dir>/control/admin-password`` (mode 0600).
    """
    with db.session() as s:
        if s.scalars(select(User.id).where(User.username == ADMIN)).first() is not None:
            return False
        generated = settings.admin_password is None
        password = settings.admin_password or generate_password()
        s.add(User(username=ADMIN, password_hash=hash_password(password), role="admin", source="local",
                   created_at=time.time()))
        try:
            s.commit()
        except IntegrityError:  # another instance created it at the same moment
            s.rollback()
            return False
    if generated:
        path = settings.admin_password_file
        try:
            _write_private(path, password)
            where = f"; it is also in {path} (mode 0600)"
        except OSError as exc:
            where = f"; it could not be written to {path}: {exc}"
        logger.warning("created the local admin account: user 'admin', password %s (shown once%s; change it in "
                       "the UI or with `conduix control admin-password`)", password, where)
    else:
        logger.info("created the local admin account 'admin' with the password of CONDUIX_CONTROL_ADMIN_PASSWORD")
    return True


def set_password(db: Database, username: str, password: str) -> None:
    """Set a local user's password (creating ``admin`` if it does not exist yet)."""
    with db.session() as s:
        user = s.scalars(select(User).where(User.username == username)).first()
        if user is None:
            if username != ADMIN:
                raise NotFoundError(f"no local user {username!r}")
            user = User(username=username, role="admin", source="local", created_at=time.time())
            s.add(user)
        user.password_hash = hash_password(password)
        user.source = "local"
        s.commit()


def session_key(db: Database, settings: AuthSettings) -> str:
    """``settings.secret_key``, else the generated key in the ``secrets`` table (created once, shared)."""
    if settings.secret_key:
        return settings.secret_key
    with db.session() as s:
        row = s.get(Secret, SESSION_KEY)
        if row is not None:
            return row.value
        s.add(Secret(name=SESSION_KEY, value=secrets.token_urlsafe(48), created_at=time.time()))
        try:
            s.commit()
        except IntegrityError:  # another instance stored one first: use theirs
            s.rollback()
    with db.session() as s:
        row = s.get(Secret, SESSION_KEY)
        assert row is not None
        return row.value
