"""An agent's child run requests and the end of their parent run, whichever of its threads sends them.

The worker's reader thread and the agent's main loop both flush child requests; a request the control plane
refuses fails the parent run even when the other thread had it in flight as the run ended, or when it could
only be sent after the run ended.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from conduix_control.agent.agent import Agent, AgentOptions
from conduix_control.errors import ControlPlaneUnavailableError, ControlRequestError

RUN = 7


class FakeClient:
    """The control plane: refuses every child run; ``gate`` holds each child request until it is set;
    ``down`` makes requests fail as if it could not be reached."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.in_flight = threading.Event()
        self.down = False
        self.reports: list[dict[str, Any]] = []

    def post(self, path: str, body: Any) -> None:
        self.in_flight.set()
        assert self.gate.wait(30)
        if self.down:
            raise ControlPlaneUnavailableError("control plane unreachable")
        raise ControlRequestError(f"no pipeline named {body['pipeline']!r}", status=404)

    def report(self, run_id: int, **fields: Any) -> None:
        if self.down:
            raise ControlPlaneUnavailableError("control plane unreachable")
        self.reports.append({"run": run_id, **fields})

    def close(self) -> None:
        pass


def agent_with(client: FakeClient, tmp_path: Path) -> tuple[Agent, Any]:
    agent = Agent(AgentOptions(control_url="http://127.0.0.1:9", agent_id="a1", state_dir=tmp_path / "agent"))
    agent.client = client  # type: ignore[assignment]
    worker = SimpleNamespace(run_id=RUN, assignment_id=1, payload={"checkpoint_id": "orders"})
    agent.workers[1] = worker  # type: ignore[assignment]
    return agent, worker


def final_report(client: FakeClient) -> dict[str, Any]:
    [end] = [r for r in client.reports if r.get("status") in ("succeeded", "failed")]
    return end


def test_a_refusal_the_main_loop_has_in_flight_as_the_run_ends_fails_the_run(tmp_path: Path) -> None:
    client = FakeClient()
    agent, worker = agent_with(client, tmp_path)
    client.gate.clear()
    agent._pending_children.append((RUN, {"pipeline": "invoice", "parameters": {}}))
    main_loop = threading.Thread(target=agent._flush_children)  # the heartbeat loop's flush, held by the gate
    main_loop.start()
    assert client.in_flight.wait(30)
    reader = threading.Thread(target=agent._on_event, args=(worker, {"event": "finished", "status": "succeeded"}))
    reader.start()  # the worker's reader thread: the run ended while the request is in flight
    client.gate.set()
    main_loop.join(30)
    reader.join(30)
    agent._flush_reports()
    end = final_report(client)
    assert end["status"] == "failed" and "refused a run of child pipeline 'invoice'" in end["error"], client.reports


def test_a_refusal_of_a_request_sent_after_the_run_ended_fails_the_run(tmp_path: Path) -> None:
    client = FakeClient()
    agent, worker = agent_with(client, tmp_path)
    client.down = True  # the request cannot be sent before the run ends
    agent._on_event(worker, {"event": "child", "pipeline": "invoice", "parameters": {}})
    agent._on_event(worker, {"event": "finished", "status": "succeeded"})
    assert not [r for r in client.reports if r.get("status") == "succeeded"], "the end waits for the request"
    client.down = False  # the control plane is back: the next heartbeat loop sends the request, then the end
    agent._flush_children()
    agent._flush_reports()
    end = final_report(client)
    assert end["status"] == "failed" and "refused a run of child pipeline 'invoice'" in end["error"], client.reports
    assert agent._refused_children == {}
