"""Names of everything a deployment keeps in Redis, all under ``conduix:{deployment}:``.

Redis pub/sub ignores database numbers and agent ids default to host names, so two deployments sharing one
Redis would otherwise wake each other's agents and fence each other's pipelines. The deployment name is
``CONDUIX_CONTROL_DEPLOYMENT`` (``--deployment``), else a random name the first control plane stores in its
database; agents learn it when they register. The prefix also makes Redis ACLs simple: ``~conduix:NAME:*``
and ``&conduix:NAME:*`` (see docs/security.md).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from conduix.errors import ConfigError
from conduix_control.db import Database
from conduix_control.db.models import Secret
from conduix_control.fencing import lease_key

__all__ = ["AGENT_ID", "Keys", "deployment_name"]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
AGENT_ID = r"^[A-Za-z0-9_.\-]{1,200}$"  #: agent ids are parts of key names: no ':', '*', spaces
_SECRET = "deployment"


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"deployment name {name!r} may use only letters, digits, '_', '.' and '-' (at most 64)",
                          hint="set CONDUIX_CONTROL_DEPLOYMENT (or --deployment) to e.g. 'prod-eu'")
    return name


@dataclass(frozen=True)
class Keys:
    """The Redis keys and channels of one deployment."""

    deployment: str

    def __post_init__(self) -> None:
        _checked(self.deployment)

    @property
    def prefix(self) -> str:
        return f"conduix:{self.deployment}:"

    def wake_channel(self, agent_id: str) -> str:
        """The pub/sub channel that wakes an agent: it then fetches its commands over authenticated REST."""
        return f"{self.prefix}agent:{agent_id}:wake"

    def heartbeat(self, agent_id: str) -> str:
        """The key (with a TTL) an agent heartbeats into."""
        return f"{self.prefix}agent:{agent_id}:heartbeat"

    def lease(self, checkpoint_id: str) -> str:
        """A pipeline replica's current fencing token (next to its checkpoint, see :mod:`conduix_control.fencing`)."""
        return lease_key(checkpoint_id, self.prefix)


def deployment_name(db: Database, configured: str | None) -> str:
    """``configured`` (checked), else the name stored in the database, created by the first instance."""
    if configured:
        return _checked(configured)
    with db.session() as s:
        row = s.get(Secret, _SECRET)
        if row is not None:
            return row.value
        s.add(Secret(name=_SECRET, value=f"d{secrets.token_hex(6)}", created_at=time.time()))
        try:
            s.commit()
        except IntegrityError:  # another instance named it first: use theirs
            s.rollback()
    with db.session() as s:
        row = s.get(Secret, _SECRET)
        assert row is not None
        return row.value
