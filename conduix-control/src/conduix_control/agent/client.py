"""The agent's (and the CLI's) HTTP client for the control plane's REST API."""

from __future__ import annotations

from typing import Any

import httpx

from conduix_control.errors import ControlPlaneUnavailableError, ControlRequestError

__all__ = ["ControlClient"]


class ControlClient:
    """Thin typed wrapper over the REST API; transport errors become :class:`ControlPlaneUnavailableError`."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token or None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ControlPlaneUnavailableError(
                f"control plane at {self.base_url} is unreachable ({method} {path}: {exc}); "
                "check --control-url and that `conduix control serve` runs") from exc
        if response.status_code >= 500:  # the server's trouble (database down...): worth retrying
            raise ControlPlaneUnavailableError(
                f"control plane at {self.base_url} failed {method} {path}: "
                f"{response.status_code} {response.text[:200]}")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text}
            detail = body.get("detail", body) if isinstance(body, dict) else body
            lines = [str(detail)]
            if response.status_code in (401, 403):
                lines[0] = self._auth_hint(method, path, response.status_code, str(detail))
            for err in body.get("errors", []) if isinstance(body, dict) else []:
                where = f"line {err.get('line')}, column {err.get('column')}" if err.get("line") else ""
                lines.append(f"  {where} at {err.get('path')}: {err.get('message')}"
                             + (f" ({err['hint']})" if err.get("hint") else ""))
            raise ControlRequestError("\n".join(lines), status=response.status_code, detail=body)
        if response.status_code == 204:
            return None
        return response.json()

    def _auth_hint(self, method: str, path: str, status: int, detail: str) -> str:
        """The server's reason, plus how to pass a token (the server names the role needed on 403)."""
        if status == 401:
            given = "the token given was refused" if self.token else "no token was given"
            return (f"control plane at {self.base_url} refused {method} {path}: {detail} ({given}; pass an API "
                    "token with --token or the CONDUIX_CONTROL_TOKEN environment variable; create one in the UI's "
                    "Tokens page or with `conduix control tokens create NAME --role ROLE`)")
        return (f"control plane at {self.base_url} refused {method} {path}: {detail} (pass a token with that "
                "role with --token or CONDUIX_CONTROL_TOKEN)")

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    # -- the agent protocol --
    def register(self, agent_id: str, host: str, labels: dict[str, str], capacity: int, mode: str) -> Any:
        return self.post("/agents/register", {"id": agent_id, "host": host, "labels": labels,
                                              "capacity": capacity, "mode": mode})

    def heartbeat(self, agent_id: str, mode: str, info: dict[str, Any]) -> list[int]:
        return list(self.post(f"/agents/{agent_id}/heartbeat", {"mode": mode, "info": info})["assignments"])

    def poll(self, agent_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/agents/{agent_id}/commands"))

    def ack(self, command_id: str, *, ok: bool, via: str, result: str | None) -> None:
        self.post(f"/commands/{command_id}/ack", {"ok": ok, "via": via, "result": result})

    def report(self, run_id: int, **fields: Any) -> None:
        self.post(f"/runs/{run_id}/report", {k: v for k, v in fields.items() if v is not None})

    def close(self) -> None:
        self.http.close()
