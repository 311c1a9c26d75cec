"""A Shared Signals receiver, run as its own process by the integration tests: it knows the
transmitter only by its URL, as a receiver in the field does.

It fetches the transmitter's discovery document and, from the ``jwks_uri`` there, its keys;
verifies every SET it gets (signature against the published keys, ``typ``, ``alg``, ``iss``,
``aud``) with joserfc; and appends what it verified to ``--out`` as JSON Lines.

``push``: serves RFC 8935 on ``--port`` (``POST /events``); answers 202 for a SET it
verified, 400 with ``{"err", "description"}`` for one it refuses, 401 without the expected
``Authorization`` (``SSF_RECEIVER_AUTHORIZATION``), and 503 to the first ``--fail-first``
requests (a receiver briefly down).

``poll``: polls ``POLL_URL`` (RFC 8936) with the API key in ``SSF_POLL_KEY``, acknowledging
what it verified, until it has ``--expect`` SETs; then acknowledges the last and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet


class Refused(Exception):
    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err
        self.description = description


def fetch_json(url: str, headers: dict[str, str] | None = None, body: Any = None) -> Any:
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as reply:
        return orjson.loads(reply.read())


class Verifier:
    """The transmitter's keys, found through its discovery document; SETs checked with them."""

    def __init__(self, transmitter: str, audience: str) -> None:
        self.transmitter = transmitter.rstrip("/")
        self.audience = audience
        self._lock = threading.Lock()
        self.configuration: dict[str, Any] | None = None
        self.keys: KeySet | None = None

    def _load(self) -> tuple[dict[str, Any], KeySet]:
        with self._lock:
            if self.configuration is None or self.keys is None:
                config = fetch_json(self.transmitter + "/.well-known/ssf-configuration")
                jwks = fetch_json(config["jwks_uri"])
                self.keys = KeySet.import_key_set(jwks)
                self.configuration = config
            return self.configuration, self.keys

    def verify(self, token: str) -> dict[str, Any]:
        config, keys = self._load()
        try:
            decoded = jwt.decode(token, keys, algorithms=["ES256"])
        except JoseError as exc:
            raise Refused("invalid_key", f"signature not verified: {exc}") from exc
        header, claims = decoded.header, decoded.claims
        if header.get("typ") != "secevent+jwt":
            raise Refused("invalid_request", f"typ is {header.get('typ')!r}")
        if claims.get("iss") != config["issuer"]:
            raise Refused("invalid_issuer", f"iss is {claims.get('iss')!r}")
        if claims.get("aud") != self.audience:
            raise Refused("invalid_audience", f"aud is {claims.get('aud')!r}")
        if "sub" in claims or "sub_id" not in claims:
            raise Refused("invalid_request", "the subject must be in sub_id")
        return {"header": header, "claims": claims, "verified": True}


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        with self._lock, self.path.open("ab") as out:
            out.write(orjson.dumps(entry) + b"\n")


def serve_push(args: argparse.Namespace, verifier: Verifier, journal: Journal) -> None:
    expected_authorization = os.environ.get("SSF_RECEIVER_AUTHORIZATION")
    failures_left = [args.fail_first]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
            payload = orjson.dumps(body) if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            token = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            with lock:
                failing = failures_left[0] > 0
                failures_left[0] -= 1
            if failing:
                journal.write({"answered": 503})
                self._answer(503)
                return
            if expected_authorization and (
                self.headers.get("Authorization") != expected_authorization
            ):
                self._answer(401, {"err": "authentication_failed", "description": "who?"})
                return
            if self.headers.get("Content-Type") != "application/secevent+jwt":
                self._answer(400, {"err": "invalid_request", "description": "content type"})
                return
            try:
                verified = verifier.verify(token)
            except Refused as exc:
                journal.write({"answered": 400, "err": exc.err})
                self._answer(400, {"err": exc.err, "description": exc.description})
                return
            journal.write({**verified, "answered": 202})
            self._answer(202)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    Path(args.ready).write_text("ready\n")
    server.serve_forever()


def poll(args: argparse.Namespace, verifier: Verifier, journal: Journal) -> int:
    key = os.environ["SSF_POLL_KEY"]
    headers = {"Authorization": f"Bearer {key}"}
    seen: set[str] = set()
    ack: list[str] = []
    deadline = time.monotonic() + args.timeout
    while len(seen) < args.expect:
        if time.monotonic() > deadline:
            print(f"only {len(seen)} of {args.expect} SETs in {args.timeout}s", file=sys.stderr)
            return 1
        reply = fetch_json(
            args.poll_url, headers, {"ack": ack, "maxEvents": 2, "returnImmediately": False}
        )
        ack = []
        for jti, token in reply["sets"].items():
            verified = verifier.verify(token)
            if verified["claims"]["jti"] != jti:
                raise Refused("invalid_request", "the sets map's key is not the SET's jti")
            if jti not in seen:
                journal.write({**verified, "polled": True})
            seen.add(jti)
            ack.append(jti)
    final = fetch_json(args.poll_url, headers, {"ack": ack, "maxEvents": 0})
    journal.write({"final_reply": final})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["push", "poll"])
    parser.add_argument("--transmitter", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready", default="")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--poll-url", default="")
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    verifier = Verifier(args.transmitter, args.audience)
    journal = Journal(args.out)
    if args.mode == "push":
        serve_push(args, verifier, journal)
        return 0
    return poll(args, verifier, journal)


if __name__ == "__main__":
    sys.exit(main())
