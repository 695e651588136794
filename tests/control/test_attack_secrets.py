"""Issue 17, item 7: a secret planted in every connector's URL or password shows up nowhere.

A real control plane and agent run one pipeline per connector family (HTTP, NATS, AMQP, Redis, Elasticsearch,
S3, Kafka), each given the secret through ``${PLANTED}`` in the agent's environment, in a URL, a password
field or a client option, and each failing on it: the HTTP endpoint answers 400, RabbitMQ refuses the password,
the other servers are not there. The real ``conduix run`` runs the same pipelines supervised. The
secret is in no log (control plane, agent, workers, CLI), no run error, no status file and no API answer,
while the errors still say what failed.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually
from tests.control.conftest import free_port

pytestmark = pytest.mark.integration("amqp")

PLANTED = "Zq7-planted-SECRET-9Xk"
CLOSED = 1  # nothing listens on port 1
S = "${PLANTED}"

SINKS = {
    "http": f'{{type: http, inputs: [numbers], url: "http://probe:{S}@127.0.0.1:HTTP_PORT/in"}}',
    "nats": f'{{type: nats, inputs: [numbers], subject: probe, servers: ["nats://probe:{S}@127.0.0.1:{CLOSED}"], '
            f'user: probe, password: "{S}", startup_timeout: 1}}',
    "amqp": f'{{type: amqp, inputs: [numbers], url: "amqp://guest:{S}@127.0.0.1:5672/", routing_key: probe, '
            'startup_timeout: 2}',
    "redis": "{type: blackhole, inputs: [once]}",
    "es": f'{{type: elasticsearch, inputs: [numbers], endpoints: ["http://elastic:{S}@127.0.0.1:{CLOSED}"], '
          f'username: elastic, password: "{S}", index: probe, request_timeout: 2}}',
    "s3": f'{{type: s3, inputs: [numbers], bucket: probe-bucket, endpoint_url: "http://127.0.0.1:{CLOSED}", '
          f'access_key_id: probe, secret_access_key: "{S}", max_attempts: 1, connect_timeout: 1}}',
    "kafka": f'{{type: kafka, inputs: [numbers], brokers: "127.0.0.1:{CLOSED}", topic: probe, '
             f'message_timeout_ms: 2000, flush_timeout: 3, producer: {{security.protocol: SASL_PLAINTEXT, '
             f'sasl.mechanism: PLAIN, sasl.username: probe, sasl.password: "{S}"}}}}',
}
#: what each run's error must say (the failure happened, and the URL is there with its password masked)
SAYS = {"http": "http://probe:***@127.0.0.1", "nats": "nats://probe:***@127.0.0.1:1", "amqp": "amqp://guest:***@",
        "redis": "redis://:***@127.0.0.1:1/0", "es": "http://elastic:***@127.0.0.1:1", "s3": "probe-bucket",
        "kafka": "sink 'out'"}


#: conduix run --supervised: give up after one restart, and do not wait to resume
SUPERVISED = "supervision: {max_restarts: 1, backoff: {initial: 0.05, max: 0.1}, resume: {max_attempts: 0}}\n"


def pipeline(kind: str, http_port: int) -> str:
    transforms = ""
    if kind == "redis":
        transforms = (f'transforms:\n  once: {{type: dedupe, inputs: [numbers], fields: [seq], store: redis, ttl: 60, '
                      f'url: "redis://:{S}@127.0.0.1:{CLOSED}/0", retry: {{max_attempts: 1}}}}\n')
    sink = SINKS[kind].replace("HTTP_PORT", str(http_port))[:-1] + ", retry: {max_attempts: 1}}"
    return (f"version: 1\nname: leak-{kind}\nsources:\n  numbers: {{type: generate, count: 1}}\n{transforms}"
            f"sinks:\n  out: {sink}\n")


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTED", PLANTED)  # before `stack`: its control plane and agents inherit it


@pytest.fixture
def refusing_http() -> Iterator[int]:
    """An HTTP endpoint answering every POST with 400 (the sink's error then quotes its URL)."""

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b"refused")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_planted_secrets_are_in_no_log_error_status_file_or_api_answer(planted: None, stack: Any,
                                                                       refusing_http: int, tmp_path: Path) -> None:
    cp = stack.control()
    agent = stack.agent(cp, "leaky", None, "--capacity", str(len(SINKS)))
    for kind in SINKS:
        cp.put_pipeline(f"leak-{kind}", pipeline(kind, refusing_http))
        assert cp.post(f"/pipelines/leak-{kind}/start").status_code == 202

    def failed() -> dict[str, dict[str, Any]]:
        runs = {kind: [r for r in cp.runs(f"leak-{kind}") if r["status"] == "failed"] for kind in SINKS}
        assert all(runs.values()), {kind: [r["status"] for r in cp.runs(f"leak-{kind}")] for kind in SINKS
                                    if not runs[kind]}
        return {kind: r[-1] for kind, r in runs.items()}

    runs = eventually(failed, timeout=180, what="a failed run of every pipeline")
    for kind in SINKS:  # no more retries
        # 202 while a replica is placed (its stop command pending), 200 when none is (nothing to deliver)
        assert cp.post(f"/pipelines/leak-{kind}/stop").status_code in (200, 202)
    for kind, run in runs.items():
        assert SAYS[kind] in run["error"], (kind, run)

    answers = [cp.http.get(path) for path in ("/runs", "/runs/tree", "/agents", "/agents/leaky", "/pipelines",
                                              "/commands", "/assignments")]
    for kind, run in runs.items():
        answers += [cp.http.get(f"/runs/{run['id']}"), cp.http.get(f"/pipelines/leak-{kind}"),
                    cp.http.get(f"/pipelines/leak-{kind}/stats"), cp.http.get(f"/pipelines/leak-{kind}/graph")]
    for answer in answers:
        assert answer.status_code == 200, (answer.request.url, answer.text)
        assert PLANTED not in answer.text, answer.request.url
    assert PLANTED not in cp.log()
    assert "worker[" in agent.log() and PLANTED not in agent.log()

    # the CLI, supervised: its log, its error line and the status file of each run
    state = tmp_path / "cli-state"
    procs = {}
    for kind in SINKS:
        path = tmp_path / f"{kind}.yaml"
        path.write_text(pipeline(kind, refusing_http) + SUPERVISED)
        procs[kind] = subprocess.Popen([sys.executable, "-m", "conduix", "--log-level", "info", "run", "--supervised",
                                        "--state-dir", str(state / kind), str(path)],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for kind, proc in procs.items():
        output, _ = proc.communicate(timeout=180)
        assert proc.returncode == 1, (kind, output)
        assert SAYS[kind] in output and PLANTED not in output, (kind, output)
        status = (state / kind / "status" / f"leak-{kind}.json").read_text()
        assert '"outcome"' in status and PLANTED not in status, (kind, status)
