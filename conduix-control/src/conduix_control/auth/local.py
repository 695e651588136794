"""The local admin account (no OIDC provider configured) and the session key every instance shares.

Both are created by whichever instance starts first; the unique constraints make a concurrent start of two
instances on one database safe (the loser of the race reads what the winner wrote).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from conduix.errors import ConfigError
from conduix_control.auth.audit import record
from conduix_control.auth.passwords import MIN_PASSWORD_LENGTH, generate_password, hash_password, verify_password
from conduix_control.auth.sessions import end_user_sessions
from conduix_control.auth.settings import AuthSettings
from conduix_control.auth.throttle import clear_failures
from conduix_control.db import Database
from conduix_control.db.models import Secret, User
from conduix_control.errors import ControlError, NotFoundError

__all__ = ["ADMIN", "ensure_admin", "forget_password_file", "session_key", "set_password"]

logger = logging.getLogger(__name__)

ADMIN = "admin"
SESSION_KEY = "session_key"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)  # an older file may have been readable by others


def forget_password_file(path: Path) -> None:
    """Remove the first-start password file: the password in it no longer works."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        logger.info("removed %s: the admin password in it was changed", path)


def ensure_admin(db: Database, settings: AuthSettings) -> bool:
    """Create the local ``admin`` user on first start; True when this call created it.

    Its password is ``settings.admin_password``, else a generated one written to
    ``<state dir>/control/admin-password`` (mode 0600) and never logged; that file is removed once the password
    is changed. A start that cannot write the file creates no account (and says how to give a password).
    """
    path = settings.admin_password_file
    with db.session() as s:
        admin = s.scalars(select(User).where(User.username == ADMIN)).first()
        if admin is not None:
            if path.is_file() and not verify_password(path.read_text().strip(), admin.password_hash):
                forget_password_file(path)  # changed through another instance or the CLI
            return False
        generated = settings.admin_password is None
        password = settings.admin_password or generate_password()
        pending = path.with_name(f".{path.name}.{os.getpid()}")
        if generated:
            try:
                _write_private(pending, password)
            except OSError as exc:
                raise ControlError(f"cannot write the first admin password to {path}: {exc}; make the state "
                                   "directory writable (CONDUIX_STATE_DIR), or set CONDUIX_CONTROL_ADMIN_PASSWORD"
                                   ) from None
        s.add(User(username=ADMIN, password_hash=hash_password(password), role="admin", source="local",
                   created_at=time.time()))
        try:
            s.commit()
        except IntegrityError:  # another instance created it at the same moment
            s.rollback()
            pending.unlink(missing_ok=True)
            return False
    if generated:
        os.replace(pending, path)
        logger.warning("created the local admin account: user 'admin', its password is in %s (mode 0600; "
                       "change it in the UI or with `conduix control admin-password`, which removes the file)",
                       path)
    else:
        logger.info("created the local admin account 'admin' with the password of CONDUIX_CONTROL_ADMIN_PASSWORD")
    return True


def set_password(db: Database, username: str, password: str, password_file: Path | None = None) -> None:
    """Set a local user's password (creating ``admin`` if it does not exist yet): their sessions end, their
    failed sign-ins are forgotten, and the first-start ``password_file`` (if given) is removed."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    with db.session() as s:
        user = s.scalars(select(User).where(User.username == username)).first()
        if user is None:
            if username != ADMIN:
                raise NotFoundError(f"no local user {username!r}")
            user = User(username=username, role="admin", source="local", created_at=time.time())
            s.add(user)
            s.flush()
        user.password_hash = hash_password(password)
        user.source = "local"
        end_user_sessions(s, user.id)
        clear_failures(s, username)
        record(s, actor="cli", via="cli", action="password_reset", target=f"users/{username}")
        s.commit()
    if password_file is not None and username == ADMIN:
        forget_password_file(password_file)


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
