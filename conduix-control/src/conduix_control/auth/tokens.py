"""API tokens: ``cdx_`` plus random text, shown once; the database keeps a SHA-256 hash and a short prefix."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conduix.errors import ConfigError
from conduix_control.auth.roles import AGENT, ROLES
from conduix_control.db.models import ApiToken
from conduix_control.errors import NotFoundError
from conduix_control.keys import AGENT_ID

__all__ = ["PREFIX", "create_token", "ensure_token", "find_token", "list_tokens", "revoke_token", "token_dict"]

PREFIX = "cdx_"
_SHOWN = 12  # characters kept to recognise a token in lists: "cdx_" + 8
LAST_USED_RESOLUTION = 60.0  # seconds: last_used_at is written at most this often per token


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_dict(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "role": row.role, "agent_id": row.agent_id, "prefix": row.prefix,
            "created_by": row.created_by, "created_at": row.created_at, "last_used_at": row.last_used_at,
            "expires_at": row.expires_at}


def create_token(s: Session, name: str, role: str, created_by: str, agent_id: str | None = None,
                 expires_in_days: float | None = None) -> tuple[ApiToken, str]:
    """A new token (committed) and its secret text, which is not stored and cannot be shown again.

    A token of role ``agent`` works for one agent id only: ``agent_id``, by default the token's name. With
    ``expires_in_days`` it stops working that long after now (else when revoked).
    """
    if expires_in_days is not None and expires_in_days <= 0:
        raise ConfigError(f"a token's lifetime must be positive (got {expires_in_days} days)")
    if role not in ROLES:
        raise ConfigError(f"token role {role!r} is unknown; use one of {', '.join(ROLES)}")
    if not name.strip():
        raise ConfigError("a token needs a name (what or who uses it, e.g. 'agent-eu-1' or 'ci')")
    if role == AGENT:
        agent_id = agent_id or name.strip()
        if not re.match(AGENT_ID, agent_id):
            raise ConfigError(f"agent id {agent_id!r} may use only letters, digits, '_', '.' and '-'",
                              hint="name the token after the agent (its --agent-id), or pass --agent-id")
    elif agent_id is not None:
        raise ConfigError(f"only tokens of role agent are bound to an agent id (this one is {role})")
    text = PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    expires_at = None if expires_in_days is None else now + expires_in_days * 86400
    row = ApiToken(name=name.strip(), prefix=text[:_SHOWN], token_hash=_hash(text), role=role, agent_id=agent_id,
                   created_by=created_by, created_at=now, expires_at=expires_at)
    s.add(row)
    s.commit()
    return row, text


def ensure_token(s: Session, agent_id: str, text: str, created_by: str) -> tuple[ApiToken, bool]:
    """Store the given secret ``text`` as the agent token of ``agent_id`` unless a token with that text exists (a
    revoked one stays revoked); returns the token and whether it was created. For tokens a deployment sets."""
    if not re.match(AGENT_ID, agent_id):
        raise ConfigError(f"agent id {agent_id!r} may use only letters, digits, '_', '.' and '-'")
    if not text.startswith(PREFIX) or len(text) < len(PREFIX) + 32:
        raise ConfigError(f"the token of agent {agent_id!r} must be {PREFIX!r} followed by at least 32 random "
                          "characters; make one with: python3 -c \"import secrets; print('cdx_' + "
                          "secrets.token_urlsafe(32))\"")
    row = s.scalars(select(ApiToken).where(ApiToken.token_hash == _hash(text))).first()
    if row is not None:
        return row, False
    row = ApiToken(name=agent_id, prefix=text[:_SHOWN], token_hash=_hash(text), role=AGENT, agent_id=agent_id,
                   created_by=created_by, created_at=time.time())
    s.add(row)
    try:
        s.commit()
    except IntegrityError:  # another instance stored it at the same moment (the hash is unique)
        s.rollback()
        return s.scalars(select(ApiToken).where(ApiToken.token_hash == _hash(text))).one(), False
    return row, True


def find_token(s: Session, text: str) -> ApiToken | None:
    """The live token with this secret text (its last use recorded, at most once a minute), or None when
    unknown, revoked or expired."""
    if not text.startswith(PREFIX):
        return None
    row = s.scalars(select(ApiToken).where(ApiToken.token_hash == _hash(text))).first()
    now = time.time()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
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
