"""Connection settings shared by the AMQP source and sink; robust connections that reconnect forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from conduix.connector import Access, ComponentConfig, redact_url

__all__ = ["AmqpConnectionConfig", "ExchangeConfig", "connect", "declare_exchange", "is_transient"]

logger = logging.getLogger(__name__)


class ExchangeConfig(ComponentConfig):
    name: str = Field(..., description="Exchange name.")
    type: Literal["direct", "fanout", "topic", "headers"] = Field("direct", description="Exchange type.")
    durable: bool = Field(True, description="The exchange survives a broker restart.")


class AmqpConnectionConfig(ComponentConfig):
    url: str = Field("amqp://guest:guest@127.0.0.1:5672/", description="amqp:// or amqps:// URL with "
                     "credentials and virtual host (%2F is the default vhost).")
    reconnect_wait: float = Field(2.0, gt=0, description="Seconds between reconnection attempts (forever).")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds for one connection attempt.")
    heartbeat: int = Field(30, ge=0, description="AMQP heartbeat in seconds; a dead link is noticed after about "
                           "two of them. 0 turns heartbeats off.")
    startup_timeout: float | None = Field(60.0, gt=0, description="Seconds to keep trying the first connection "
                                          "before the component fails; null: forever.")
    declare_exchanges: list[ExchangeConfig] = Field(default_factory=list, description="Exchanges declared "
                                                    "(idempotently) at connect and after each reconnect.")

    def access(self) -> Access:
        """The broker it connects to (for agents' allow-lists)."""
        return Access(hosts=(self.url,))


def is_transient(exc: BaseException) -> bool:
    """A failure that reconnecting or waiting can cure; returned (unroutable) messages are permanent."""
    import aiormq.exceptions

    if isinstance(exc, aiormq.exceptions.PublishError):
        return False
    return isinstance(exc, (aiormq.exceptions.AMQPError, OSError, asyncio.TimeoutError, TimeoutError,
                            ConnectionError, RuntimeError, asyncio.CancelledError))


async def connect(config: AmqpConnectionConfig, component: str, closing: Callable[[], bool]) -> Any:
    """A robust connection: aio-pika restores it (and its channels, queues, consumers) after a loss.
    Losses are logged unless ``closing()`` says the component is closing it itself."""
    import aio_pika
    from aio_pika.connection import make_url
    from aio_pika.robust_connection import RobustConnection
    from yarl import URL

    from conduix.connector import ConnectorError

    url = URL(config.url)
    if "heartbeat" not in url.query:
        url = url.update_query(heartbeat=config.heartbeat)
    loop = asyncio.get_running_loop()
    deadline = None if config.startup_timeout is None else loop.time() + config.startup_timeout
    attempt = 0
    while True:
        attempt += 1
        # aio_pika.connect_robust, but closing what a failed attempt leaves behind
        connection = RobustConnection(
            make_url(url, client_properties={"connection_name": f"conduix-{component}"}),
            reconnect_interval=config.reconnect_wait)
        try:
            await connection.connect(timeout=config.connect_timeout)
            break
        except (OSError, asyncio.TimeoutError, aio_pika.exceptions.AMQPError) as exc:
            await connection.close()
            closed: Any = connection.closed()  # aio-pika leaves a never-connected one "open": its __del__ would then
            if not closed.done():  # schedule a close() from whatever thread collects it
                closed.set_result(True)
            problem = f"{type(exc).__name__}: {exc}"
            if deadline is not None and loop.time() + config.reconnect_wait > deadline:
                raise ConnectorError(f"amqp {component!r}: cannot connect to {redact_url(config.url)} ({problem}) "
                                     f"within {config.startup_timeout:g}s; check 'url' and that the broker is up "
                                     f"(startup_timeout: null waits forever)") from exc
            if attempt == 1:
                logger.warning("amqp %r: cannot connect to %s (%s); trying every %.1fs", component,
                               redact_url(config.url), problem, config.reconnect_wait)
        await asyncio.sleep(config.reconnect_wait)

    down = [False]  # one warning per outage, not one per reconnection attempt

    def on_close(_sender: Any, exc: BaseException | None) -> None:
        if exc is not None and not closing() and not down[0]:
            down[0] = True
            logger.warning("amqp %r: connection to %s lost (%s); reconnecting every %.1fs", component,
                           redact_url(config.url), exc, config.reconnect_wait)

    def on_reconnect(_sender: Any, *_args: Any) -> None:
        down[0] = False
        logger.info("amqp %r: reconnected to %s", component, redact_url(config.url))

    connection.close_callbacks.add(on_close)
    connection.reconnect_callbacks.add(on_reconnect)
    return connection


async def declare_exchange(channel: Any, exchange: ExchangeConfig) -> Any:
    return await channel.declare_exchange(exchange.name, exchange.type, durable=exchange.durable)
