"""What browsers are told and checked for: cross-site requests refused by their ``Origin``, no framing.

Session cookies are ``SameSite=Lax`` already; on top of that (as Grafana does), a request that may change
something and is not authenticated by a bearer token is refused when its ``Origin`` (or, without one, its
``Referer``) is another site than this control plane: its own host, or ``CONDUIX_CONTROL_PUBLIC_URL``'s. Requests
without either header (the CLI, scripts, agents) are not browsers' cross-site requests and pass. Every answer
forbids framing (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``: no clickjacking) and MIME sniffing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduix_control.auth.settings import AuthSettings

__all__ = ["HEADERS", "BrowserChecks", "install", "same_origin"]

HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_SAFE = {"GET", "HEAD", "OPTIONS"}
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _host(url: str) -> str | None:
    """``host[:port]`` of a URL, lower case, without its scheme's default port; None when it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS.get(parts.scheme):
        host += f":{port}"
    return host


def same_origin(origin: str, request: Request, public_url: str | None) -> bool:
    """Whether ``origin`` (an Origin or Referer value) is this control plane."""
    theirs = _host(origin)
    if theirs is None:  # "null" (sandboxed frames, file: pages) or garbage
        return False
    ours = {_host(f"{request.url.scheme}://{request.headers.get('host', '')}")}
    if public_url:
        ours.add(_host(public_url))
    return theirs in ours


class BrowserChecks:
    """ASGI middleware: the Origin check, then :data:`HEADERS` on every answer."""

    def __init__(self, app: ASGIApp, settings: AuthSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        request = Request(scope)
        origin = request.headers.get("origin") or request.headers.get("referer")
        bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
        if (request.method not in _SAFE and not bearer and origin is not None
                and not same_origin(origin, request, self.settings.public_url)):
            refusal = JSONResponse(status_code=403, content={
                "detail": f"cross-site request refused: it comes from {origin[:200]!r}, not from this control "
                          "plane (set CONDUIX_CONTROL_PUBLIC_URL to the address users open, if that is it)"})
            await refusal(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)


def install(app: FastAPI, settings: AuthSettings) -> None:
    app.add_middleware(BrowserChecks, settings=settings)
