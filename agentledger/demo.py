"""``agentledger demo``: generated agent sessions through the real path, then one chain."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import orjson
from rich.console import Console

from agentledger.client import (
    analyst_store,
    api_key,
    post_declaration,
    running_ledger,
    use_fingerprint_key,
)
from agentledger.demo_control import run_control_loop
from agentledger.ingest_wait import wait_held
from agentledger.ingesting import ingest_paths
from agentledger.progress import wait_until_dead_lettered, wait_until_exchanges_settled
from agentledger.render import chain_tree, control_loop_view, explain
from agentledger.sampledata import generate_sessions, write_files
from ingest.pipeline import IngestReport
from kernel.config import Settings
from kernel.declaration import parse_declaration
from kernel.events import now_utc
from kernel.lag import SentRanges
from kernel.topics import Topics
from kernel.vocabulary import AGENT_AUTONOMOUS, LINK_WEB_IDENTITY, RULE_OUTSIDE
from ledger.queries import (
    Chain,
    find_action,
    labelled_actions,
    ledger_summary,
    session_chain,
    session_for_key,
    session_linked_by,
)
from ledger.store import LedgerStore

THREE_SOURCES = frozenset({"okta", "mcp", "cloudtrail"})
DEMO_WAIT_S = 600.0  # for the workers to commit past the last event ingested
# One deliberately broken record shows the dead-letter path: counted, kept, pipeline goes on.
BROKEN_MCP_LINE = '{"ts": "2026-11-20T10:00:00Z", "direction": "client_to_server", "message": {\n'


async def run_demo(
    settings: Settings, session_count: int, *, console: Console, as_json: bool
) -> None:
    run_id = uuid.uuid4().hex[:8]
    quiet = Console(quiet=True) if as_json else console
    quiet.print(
        f"[bold]Agent Ledger demo[/] · run {run_id} · data dir {settings.data_dir.resolve()}"
    )
    async with running_ledger(settings) as info:
        quiet.print(f"ledger up: broker {info.bootstrap}, ledger {info.http_url}")
        use_fingerprint_key(settings)
        key = api_key(settings, info)
        sessions = generate_sessions(
            session_count, run_id=run_id, start=now_utc() - timedelta(minutes=30), showcase=True
        )
        # The clients that declare their sessions do so first, as they would at session start.
        declared = [s.declaration for s in sessions if s.declaration is not None]
        for body in declared:
            await asyncio.to_thread(post_declaration, info.http_url, parse_declaration(body), key)
        quiet.print(f"  declared {len(declared)} of {len(sessions)} sessions (POST /v1/sessions)")
        files = write_files(sessions, settings.data_dir / "samples" / run_id)
        with files["mcp"].open("a") as handle:
            handle.write(BROKEN_MCP_LINE)
        topics = Topics(info.topic_prefix)
        batch = f"demo-{run_id}"
        sent = SentRanges()  # where each record batch went, for the wait below
        reports: dict[str, IngestReport] = {}
        for source, path in files.items():
            reports[source] = await ingest_paths(
                info.bootstrap,
                topics,
                source,
                [str(path)],
                ingest_batch=batch,
                settings=settings,
                sent=sent,
            )
            r = reports[source]
            quiet.print(
                f"  ingested {path.name:<16} {r.accepted:>5} accepted, {r.rejected} rejected"
            )
            for reason, count in r.reasons.items():
                quiet.print(f"      {count} × {reason} (at {r.examples[reason]}) → ledger.dlq")
        # Held once the workers commit past every event sent: a count of rows stored would
        # wait for ever on a record repeated in the input, which the worker skips.
        await wait_held(
            info.bootstrap,
            topics,
            sent,
            settings,
            None if as_json else console,
            timeout=DEMO_WAIT_S,
        )
        with analyst_store(settings, info) as store:
            rejected = sum(r.rejected for r in reports.values())
            await wait_until_dead_lettered(store, batch, rejected)
            quiet.print("  playing one prompt-injected session through the MCP gateway…")
            loop = await run_control_loop(settings, info, key, store, run_id)
            # The generated sessions are half an hour old and the control loop's traffic is
            # now: the stream has moved past the re-stitch window, so the token exchanges
            # that waited for it are decided (``processors.federation``).
            if not await wait_until_exchanges_settled(store):
                quiet.print("  [yellow]some token exchanges are still waiting[/]")
            summary = ledger_summary(store)
            chain, strayed = _chain_to_show(store, sessions)
            # The showcase task, joined across Okta, MCP and AWS without a key they share:
            # the STS exchange named only the token's identity (``processors.federation``).
            federated = _federated_chain(store, sessions[0].jti)
    if as_json:
        payload: dict[str, Any] = {
            "run_id": run_id,
            "ingest": {s: r.as_json() for s, r in reports.items()},
            "ledger": summary,
            "chain": chain.as_json(),
            "explained": strayed,
            "federated_chain": federated.as_json() if federated is not None else None,
            "control_loop": loop,
        }
        print(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(
        f"\n[bold]ledger[/]: {summary['sessions']} sessions, {summary['actions']} actions, "
        f"{summary['credentials']} credentials, {summary['raw_events']} raw events "
        f"({', '.join(f'{k} {v}' for k, v in summary['events_by_source'].items())}), "
        f"{summary['dead_letters']} dead letters"
    )
    console.print(
        "[bold]attribution[/]: "
        + ", ".join(f"{n} {label}" for label, n in summary["actions_by_label"].items())
    )
    console.print("\n[bold]one session's chain[/] (Okta token grant → MCP tool calls → AWS calls):")
    console.print(chain_tree(chain))
    if strayed is not None:
        whose = (
            "one of its actions" if _in_chain(strayed, chain) else "an action of another session"
        )
        console.print(f"\n[bold]why {whose} is labelled as it is[/]:")
        console.print(explain(strayed))
    if federated is not None:
        console.print(
            "\n[bold]a session joined without a shared key[/] (the MCP server exchanged the "
            "agent's token at STS under a session name of its own; CloudTrail names only whose "
            "token it was):"
        )
        console.print(chain_tree(federated))
    console.print(
        "\n[bold]the control loop[/]: one prompt-injected session, through the MCP gateway"
    )
    console.print(control_loop_view(loop))
    console.print(
        f"\nexplore: agentledger up --data-dir {settings.data_dir}  then  "
        f"agentledger sessions show {chain.session['session_id']}  ·  "
        "agentledger actions list --label agent_autonomous"
    )
    console.print(
        f"the chain page of the control loop's session: agentledger page {loop['session_id']}"
        " --open  (while `up` runs; sign in with an analyst key)"
    )


def _federated_chain(store: LedgerStore, jti: str) -> Chain | None:
    """The showcase task's session, if its token exchange joined it (else any session an
    exchange joined by inference)."""
    session_id = session_for_key(store, "jti", jti)
    if session_id is not None:
        chain = session_chain(store, session_id)
        if any(a["link"]["rule"] == LINK_WEB_IDENTITY for a in chain.actions):
            return chain
    inferred = session_linked_by(store, LINK_WEB_IDENTITY)
    return session_chain(store, inferred) if inferred is not None else None


def _chain_to_show(store: LedgerStore, sessions: list[Any]) -> tuple[Chain, dict[str, Any] | None]:
    """The chain the demo shows, one that reached Okta, MCP and AWS, and the agent action
    outside its declared intent it explains, if the run produced one: the earliest such
    action in a session that reached the three sources, else the first generated agent
    session that did (a session whose token exchange two sessions could have made keeps
    its AWS calls apart, ``processors.federation``) with the earliest such action."""
    strayed = [
        find_action(store, a) for a in labelled_actions(store, AGENT_AUTONOMOUS, RULE_OUTSIDE)
    ]
    for action in strayed:
        chain = session_chain(store, action["session"]["session_id"])
        if _reaches_all(chain):
            return chain, action
    for sample in sessions:  # the first is the showcase, whose token no other session holds
        session_id = session_for_key(store, "jti", sample.jti) if sample.jti else None
        if session_id is not None and _reaches_all(chain := session_chain(store, session_id)):
            return chain, strayed[0] if strayed else None
    raise LookupError("no generated agent session reached Okta, MCP and AWS in the ledger")


def _reaches_all(chain: Chain) -> bool:
    return {a["source"] for a in chain.actions} >= THREE_SOURCES


def _in_chain(action: dict[str, Any], chain: Chain) -> bool:
    return any(a["action_id"] == action["action_id"] for a in chain.actions)
