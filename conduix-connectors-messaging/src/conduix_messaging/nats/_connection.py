"""Connection settings shared by the NATS source and sink, and connecting with reconnect-forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pydantic import Field, SecretStr, field_validator

from conduix.connector import Access, ComponentConfig, ConnectorError, redact_url

__all__ = ["NatsConnectionConfig", "connect", "is_transient"]

logger = logging.getLogger(__name__)


class NatsConnectionConfig(ComponentConfig):
    servers: list[str] = Field(default_factory=lambda: ["nats://127.0.0.1:4222"],
                               description="NATS server URLs (nats://host:port); one string or a list.")
    name: str | None = Field(None, description="Connection name shown by the server (default: the component id).")
    user: str | None = Field(None, description="User name (with 'password').")
    password: SecretStr | None = Field(None, description="Password (with 'user').")
    token: SecretStr | None = Field(None, description="Authentication token.")
    creds_file: str | None = Field(None, description="Path of a .creds file (JWT + NKey seed).")
    connect_timeout: float = Field(2.0, gt=0, description="Seconds for one connection attempt.")
    reconnect_wait: float = Field(2.0, gt=0, description="Seconds between reconnection attempts.")
    max_reconnect_attempts: int = Field(-1, ge=-1, description="Reconnection attempts before giving up; "
                                        "-1 (the default) reconnects forever.")
    startup_timeout: float | None = Field(60.0, gt=0, description="Seconds to keep trying the first connection "
                                          "before the component fails; null: forever.")

    def access(self) -> Access:
        """The servers it connects to and the credentials file it reads (for agents' allow-lists)."""
        return Access(hosts=tuple(self.servers), reads=(self.creds_file,) if self.creds_file else ())

    @field_validator("servers", mode="before")
    @classmethod
    def one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def is_transient(exc: BaseException) -> bool:
    """A failure that reconnecting or waiting can cure (not a bad request)."""
    import nats.errors
    import nats.js.errors

    if isinstance(exc, nats.js.errors.APIError):
        return exc.code is None or exc.code >= 500 or exc.code == 408
    return isinstance(exc, (nats.errors.Error, OSError, asyncio.TimeoutError, TimeoutError, ConnectionError))


async def connect(config: NatsConnectionConfig, component: str, closing: Callable[[], bool]) -> Any:
    """Connect, retrying forever by default; logs disconnects and reconnects with the component named
    (not while ``closing()`` says the component is closing the connection itself)."""
    import nats

    down = [False]  # one warning per outage, not one per reconnection attempt

    async def on_error(exc: Exception) -> None:
        if not closing() and not down[0]:
            logger.warning("nats %r: %s: %s", component, type(exc).__name__, exc)

    async def on_disconnected() -> None:
        if not closing() and not down[0]:
            down[0] = True
            logger.warning("nats %r: disconnected; reconnecting every %.1fs", component, config.reconnect_wait)

    async def on_reconnected() -> None:
        down[0] = False
        logger.info("nats %r: reconnected", component)

    options: dict[str, Any] = {
        "servers": config.servers, "name": config.name or f"conduix-{component}",
        "connect_timeout": config.connect_timeout, "reconnect_time_wait": config.reconnect_wait,
        "max_reconnect_attempts": config.max_reconnect_attempts, "allow_reconnect": True,
        "error_cb": on_error, "disconnected_cb": on_disconnected, "reconnected_cb": on_reconnected,
    }
    if config.user is not None:
        options["user"] = config.user
        options["password"] = config.password.get_secret_value() if config.password is not None else None
    if config.token is not None:
        options["token"] = config.token.get_secret_value()
    if config.creds_file is not None:
        options["user_credentials"] = config.creds_file
    try:
        return await asyncio.wait_for(nats.connect(**options), config.startup_timeout)
    except asyncio.TimeoutError:
        servers = ", ".join(map(redact_url, config.servers))
        raise ConnectorError(f"nats {component!r}: no server of {servers} answered within "
                             f"{config.startup_timeout:g}s; check 'servers' and that NATS is up (startup_timeout: "
                             f"null waits forever)") from None
