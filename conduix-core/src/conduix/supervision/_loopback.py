"""Make Thespian's TCP transport listen only on the address it advertises.

Thespian 4.0.1 binds every TCP endpoint (admin, logger, each actor) to all
interfaces (``('', port)``) and accepts unauthenticated pickles on them. The
address it *advertises* to other actors comes from ``THESPIAN_BASE_IPADDR``.
After :func:`install`, an endpoint whose bind host is the wildcard binds to its
advertised host instead, so with ``THESPIAN_BASE_IPADDR=127.0.0.1`` nothing
listens beyond loopback. Actor processes are forked from the process that
created the actor system and inherit the patch.
"""

from __future__ import annotations

from typing import Any

from thespian.system.transport.IPBase import IPActorAddress

__all__ = ["install"]

_original_bind_args = IPActorAddress.bindArgs


def _advertised_bind_args(self: Any) -> tuple[Any, ...]:
    (bindname,) = _original_bind_args.fget(self)
    if isinstance(bindname, tuple) and bindname and bindname[0] in ("", "0.0.0.0"):
        return ((self.sockname[0], *bindname[1:]),)
    return (bindname,)


def install() -> None:
    """Bind Thespian TCP endpoints to their advertised address (idempotent)."""
    if IPActorAddress.bindArgs is not _original_bind_args:
        return
    IPActorAddress.bindArgs = property(_advertised_bind_args)
