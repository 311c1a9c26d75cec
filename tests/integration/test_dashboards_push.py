"""``agentledger dashboards push`` against a small Grafana stand-in on loopback that records
what it receives: the folder is made once, every committed dashboard arrives whole, with
``overwrite`` and the folder, under the token from the environment, which is never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agentledger.panels import load_dashboards

TOKEN = "glsa_dashboards-push-test-token-0123456789abcdef"
AGENTLEDGER = [sys.executable, "-m", "agentledger"]


@dataclass
class Recorded:
    requests: list[dict[str, Any]] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)


class _Grafana(BaseHTTPRequestHandler):
    """Enough of Grafana's HTTP API for a push: folders by uid, dashboards/db."""

    recorded: Recorded

    def log_message(self, *_: Any) -> None:  # keep the test output quiet
        return

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.recorded.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization", ""),
                "body": body,
            }
        )
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._reply(401, {"message": "Invalid API key"})
        elif self.command == "GET" and self.path.startswith("/api/folders/"):
            uid = self.path.rsplit("/", 1)[1]
            if uid in self.recorded.folders:
                self._reply(200, {"uid": uid, "title": self.recorded.folders[uid]})
            else:
                self._reply(404, {"message": "folder not found"})
        elif self.command == "POST" and self.path == "/api/folders":
            assert body is not None
            self.recorded.folders[body["uid"]] = body["title"]
            self._reply(200, {"uid": body["uid"], "title": body["title"], "id": 1})
        elif self.command == "POST" and self.path == "/api/dashboards/db":
            assert body is not None
            uid = body["dashboard"]["uid"]
            self._reply(200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x", "version": 1})
        else:
            self._reply(404, {"message": "not found"})

    do_GET = _handle
    do_POST = _handle


@pytest.fixture
def grafana() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded()
    handler = type("Handler", (_Grafana,), {"recorded": recorded})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", recorded
    server.shutdown()
    thread.join(10)


def _push(url: str, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GRAFANA_TOKEN",)}
    env.pop("AGENTLEDGER_GRAFANA_TOKEN", None)
    if token is not None:
        env["AGENTLEDGER_GRAFANA_TOKEN"] = token
    return subprocess.run(
        [*AGENTLEDGER, "dashboards", "push", "--grafana", url, "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_push_sends_every_dashboard_with_overwrite_into_the_folder(
    grafana: tuple[str, Recorded],
) -> None:
    url, recorded = grafana
    committed = {d["uid"]: d for d in load_dashboards()}
    assert len(committed) == 4

    first = _push(url, TOKEN)
    assert first.returncode == 0, first.stderr
    assert TOKEN not in first.stdout + first.stderr
    assert {item["uid"] for item in json.loads(first.stdout)} == set(committed)
    assert recorded.folders == {"agentledger": "Agent Ledger"}
    assert {r["authorization"] for r in recorded.requests} == {f"Bearer {TOKEN}"}
    posted = [r["body"] for r in recorded.requests if r["path"] == "/api/dashboards/db"]
    assert len(posted) == len(committed)
    for body in posted:
        assert body["overwrite"] is True
        assert body["folderUid"] == "agentledger"
        sent = body["dashboard"]
        assert sent["id"] is None  # matched by uid: created, or overwritten in place
        assert {k: v for k, v in sent.items() if k != "id"} == {
            k: v for k, v in committed[sent["uid"]].items() if k != "id"
        }

    # Again: the folder exists now, so only the dashboards go, overwriting the same uids.
    recorded.requests.clear()
    again = _push(url, TOKEN, "--folder", "Ledger", "--folder-uid", "agentledger")
    assert again.returncode == 0, again.stderr
    assert [r["path"] for r in recorded.requests if r["method"] == "POST"] == [
        "/api/dashboards/db"
    ] * len(committed)


def test_push_needs_a_token_and_never_prints_it(grafana: tuple[str, Recorded]) -> None:
    url, recorded = grafana
    missing = _push(url, None)
    assert missing.returncode != 0
    assert "AGENTLEDGER_GRAFANA_TOKEN" in missing.stderr
    assert recorded.requests == []

    wrong = "glsa_a-token-grafana-refuses-0123456789"
    refused = _push(url, wrong)
    assert refused.returncode != 0
    assert "refused" in refused.stderr and "Unauthorized" in refused.stderr
    assert wrong not in refused.stdout + refused.stderr

    in_url = _push(url.replace("http://", f"http://admin:{TOKEN}@"), None)
    assert in_url.returncode != 0 and "not in the URL" in in_url.stderr
    assert TOKEN not in in_url.stdout + in_url.stderr
