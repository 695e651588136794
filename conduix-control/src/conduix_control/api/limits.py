"""A size limit on request bodies: larger ones are answered 413 before they are held in memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with ``413 Content Too Large``.

    A ``Content-Length`` over the limit is answered at once, without reading the body; a body sent in chunks
    is counted as it arrives and refused when it passes the limit (the app reading it sees the client
    disconnect, and what it answers to that is dropped).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def message(self) -> str:
        return (f"request body too large: the limit is {self.max_bytes} bytes "
                "(CONDUIX_CONTROL_MAX_BODY_BYTES on the control plane)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        refused = started = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # the app sees the client go; the client gets the 413
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # what the app answers to the disconnect goes nowhere
            started = True
            await send(message)

        await self.app(scope, counted, guarded)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": self.message()}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
