"""API tokens: ``cdx_`` plus random text, shown once; the database keeps a SHA-256 hash and a short prefix."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix.errors import ConfigError
from conduix_control.auth.roles import ROLES
from conduix_control.db.models import ApiToken
from conduix_control.errors import NotFoundError

__all__ = ["PREFIX", "create_token", "find_token", "list_tokens", "revoke_token", "token_dict"]

PREFIX = "cdx_"
_SHOWN = 12  # characters kept to recognise a token in lists: "cdx_" + 8
LAST_USED_RESOLUTION = 60.0  # seconds: last_used_at is written at most this often per token


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_dict(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "role": row.role, "prefix": row.prefix, "created_by": row.created_by,
            "created_at": row.created_at, "last_used_at": row.last_used_at}


def create_token(s: Session, name: str, role: str, created_by: str) -> tuple[ApiToken, str]:
    """A new token (committed) and its secret text, which is not stored and cannot be shown again."""
    if role not in ROLES:
        raise ConfigError(f"token role {role!r} is unknown; use one of {', '.join(ROLES)}")
    if not name.strip():
        raise ConfigError("a token needs a name (what or who uses it, e.g. 'agent-eu-1' or 'ci')")
    text = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name.strip(), prefix=text[:_SHOWN], token_hash=_hash(text), role=role,
                   created_by=created_by, created_at=time.time())
    s.add(row)
    s.commit()
    return row, text


def find_token(s: Session, text: str) -> ApiToken | None:
    """The live token with this secret text (its last use recorded, at most once a minute), or None."""
    if not text.startswith(PREFIX):
        return None
    row = s.scalars(select(ApiToken).where(ApiToken.token_hash == _hash(text))).first()
    if row is None or row.revoked_at is not None:
        return None
    now = time.time()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        s.commit()
    return row


def list_tokens(s: Session) -> list[ApiToken]:
    """Tokens not revoked, oldest first."""
    return list(s.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)).all())


def revoke_token(s: Session, token_id: int) -> ApiToken:
    row = s.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        raise NotFoundError(f"no token {token_id} (see `conduix control tokens list` or GET /auth/tokens)")
    row.revoked_at = time.time()
    s.commit()
    return row
