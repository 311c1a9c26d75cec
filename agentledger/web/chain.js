// The chain page. Everything the ledger returns may hold text an attacker wrote (a tool
// result with an injected prompt, a <script> in an argument), so the page is built from
// DOM nodes and text nodes only: no innerHTML, no markup from data, no inline handlers.
"use strict";

(function () {
  const LABEL_WORDS = {
    direct_user: "a person acting directly",
    agent_delegated: "an agent doing what it was asked",
    agent_autonomous: "an agent acting on its own",
    unattributed: "no agent or person could be established",
  };

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      if (child === null || child === undefined || child === "") continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clip(text, most) {
    const value = String(text || "");
    return value.length > most ? value.slice(0, most) + "…" : value;
  }

  function time(value) {
    return String(value || "").slice(11, 23);
  }

  function status(text) {
    const node = document.getElementById("status");
    node.textContent = text;
    node.hidden = !text;
  }

  async function getJson(url) {
    const reply = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (reply.status === 401) {
      window.location.assign("/ui/sign-in");
      throw new Error("signed out");
    }
    const body = await reply.json();
    if (!reply.ok) throw new Error(body.error || reply.statusText);
    return body;
  }

  function sessionLink(sessionId) {
    const link = el("a", "mono", sessionId);
    link.href = "/ui/sessions/" + encodeURIComponent(sessionId);
    return link;
  }

  function what(action) {
    if (action.kind === "tool_call") return "tools/call " + action.resource;
    if (action.kind === "api_call") {
      let text = (action.service + " " + action.operation).trim();
      if (action.resource && !action.operation.includes(action.resource)) {
        text += " " + action.resource;
      }
      return text;
    }
    return action.source + " " + action.operation;
  }

  function badge(text, kind) {
    return el("span", "badge " + kind, text);
  }

  // -- the list of sessions ------------------------------------------------------------
  function filterQuery(form) {
    const query = new URLSearchParams();
    const data = new FormData(form);
    for (const name of ["agent", "label"]) {
      const value = String(data.get(name) || "").trim();
      if (value) query.set(name, value);
    }
    for (const name of ["flagged", "contracted"]) {
      if (data.get(name)) query.set(name, "true");
    }
    for (const name of ["since", "until"]) {
      const value = String(data.get(name) || "");
      if (value) query.set(name, new Date(value).toISOString());
    }
    return query;
  }

  function sessionRow(s) {
    const agent = (s.agent_name + " " + s.agent_version).trim() || "-";
    const origin = s.origin_type ? s.origin_type + " " + s.origin_principal : s.principal || "-";
    const row = el(
      "tr",
      Number(s.contraction_count) > 0 ? "contracted" : "",
      el("td", "", sessionLink(s.session_id)),
      el("td", "mono", String(s.last_seen).slice(0, 19)),
      el("td", "", agent),
      el("td", "", origin),
      el("td", "intent", clip(s.intent || "-", 90)),
      el("td", "num", s.action_count),
      el("td", Number(s.autonomous_actions) ? "num alert" : "num", s.autonomous_actions),
      el("td", Number(s.flagged_actions) ? "num alert" : "num", s.flagged_actions),
      el("td", "num", s.max_drift === null ? "-" : Number(s.max_drift).toFixed(2)),
      el("td", "num", s.contraction_count),
    );
    return row;
  }

  async function showSessions() {
    const form = document.getElementById("filters");
    const params = new URLSearchParams(window.location.search);
    for (const [name, value] of params) {
      const field = form.elements.namedItem(name);
      if (!field) continue;
      if (field.type === "checkbox") field.checked = value === "true";
      else if (field.type !== "datetime-local") field.value = value;
    }
    async function load(query) {
      status("Loading…");
      const body = await getJson("/api/sessions?" + query.toString());
      const rows = document.querySelector("#sessions tbody");
      rows.replaceChildren(...body.sessions.map(sessionRow));
      status(body.sessions.length ? "" : "No session matches.");
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const query = filterQuery(form);
      window.history.replaceState(null, "", "?" + query.toString());
      load(query).catch((err) => status("Could not read the sessions: " + err.message));
    });
    await load(params);
  }

  // -- one session's chain -------------------------------------------------------------
  function step(kind, title, ...body) {
    return el("li", "step " + kind, el("span", "step-kind", title), ...body);
  }

  function delegation(chain) {
    const words = [chain.session.agent_name || "(agent)"];
    for (const hop of chain.delegated_by) {
      if (!hop.known) {
        words.push("session " + hop.session_id + " (not in the ledger yet)");
        break;
      }
      words.push((hop.agent_name || "(agent)") + " (" + hop.session_id + ")");
      if (hop.origin_type === "human" || hop.origin_type === "schedule") {
        words.push(hop.origin_type + " " + hop.origin_principal);
      }
    }
    return words.join(" ← ");
  }

  function headSteps(chain) {
    const s = chain.session;
    const steps = [];
    let origin;
    if (s.origin_type === "agent") {
      origin = "agent in session " + (s.upstream_session_id || s.origin_principal);
    } else if (s.origin_type) {
      origin = s.origin_type + " " + s.origin_principal;
    } else {
      origin = "not established (principal " + (s.principal || "unknown") + ")";
    }
    steps.push(
      step(
        "origin",
        "origin",
        el("span", "", origin),
        chain.delegated_by.length ? el("div", "dim", "delegation: " + delegation(chain)) : null,
      ),
    );
    const agent = [s.agent_name || "(no agent identified)", s.agent_version].join(" ").trim();
    const instance = s.agent_instance ? " · instance " + s.agent_instance : "";
    steps.push(step("agent", "agent", agent + instance));
    const how = s.intent_source ? " (" + s.intent_source.replaceAll("_", " ") + ")" : "";
    const covers = ["tools", "resources", "actions"]
      .filter((name) => (s["intent_" + name] || []).length)
      .map((name) => name + " " + s["intent_" + name].join(", "));
    steps.push(
      step(
        "intent",
        "intent",
        el("span", "", (s.intent || "(none declared or asserted)") + how),
        covers.length ? el("div", "dim", "covers: " + covers.join("; ")) : null,
      ),
    );
    const creds = chain.credentials.map((c) => c.kind + " " + clip(c.credential_id, 24));
    steps.push(
      step(
        "scope",
        "scope",
        el("span", "", (s.scopes || []).join(" ") || "(no scopes seen)"),
        creds.length ? el("div", "dim", "credentials: " + creds.join(", ")) : null,
      ),
    );
    return steps;
  }

  function driftBadge(action) {
    if (!action.drift) return badge("not scored", "dim");
    const text = "drift " + action.drift.score.toFixed(2) + " · " + action.decision;
    return badge(text, "drift decision-" + action.decision + (action.drift.flagged ? " flagged" : ""));
  }

  function labelBadge(attribution) {
    if (!attribution.label) return badge("not labelled", "dim");
    return badge(attribution.label, "label label-" + attribution.label);
  }

  function facts(pairs) {
    const list = el("dl", "facts");
    for (const [name, value] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      list.append(el("dt", "", name), el("dd", "", value));
    }
    return list;
  }

  function evidenceList(evidence) {
    const list = el("ol", "evidence");
    for (const item of evidence) {
      const extra = Object.entries(item)
        .filter(([key]) => key !== "detail" && key !== "fact")
        .map(([key, value]) => key + ": " + (typeof value === "string" ? value : JSON.stringify(value)));
      list.append(
        el(
          "li",
          "",
          el("span", "fact mono", item.fact || ""),
          " ",
          item.detail || "",
          extra.length ? el("div", "dim mono", extra.join(" · ")) : null,
        ),
      );
    }
    return list;
  }

  function details(action) {
    const a = action.attribution;
    const box = el("div", "details");
    const label = a.label
      ? a.label + " — " + (LABEL_WORDS[a.label] || "") + " (rule " + a.rule + ")"
      : "not labelled (run agentledger rebuild)";
    box.append(el("h3", "", "Why: " + label));
    if (a.evidence.length) box.append(evidenceList(a.evidence));
    const origin = action.origin;
    const reported = action.outcome.event_id
      ? "reported by " + (action.outcome.source_id || "event " + action.outcome.event_id)
      : "";
    box.append(
      facts([
        ["action", action.action_id],
        ["source id", action.source_id || "none"],
        ["agent", action.agent.attributed || "none established"],
        ["origin", origin.type ? origin.type + " " + origin.principal : "not established"],
        ["chain", origin.chain.length > 1 ? origin.chain.map((h) => h.kind + " " + (h.id || "(unknown)")).join(" ← ") : ""],
        ["scope", (action.scope.scopes || []).join(" ") || "principal " + (action.scope.principal || "unknown")],
        ["linked by", action.link.rule + " via " + action.link.key_type + "=" + clip(action.link.key, 64)],
        ["arguments", action.arguments],
        ["outcome", action.outcome.status + (reported ? " (" + reported + ")" : "")],
        ["outcome detail", action.outcome.detail],
      ]),
    );
    if (action.drift) {
      const d = action.drift;
      box.append(
        el("h3", "", "Drift " + d.score.toFixed(2) + " · decision " + action.decision),
        facts([
          ["model", d.model_version],
          ["policy rule", action.policy_rule],
          ["bounds", d.out_of_bounds ? "outside the declared tools, resources or actions" : ""],
          ["contraction", action.contraction_id],
        ]),
      );
      if (d.reasons.length) box.append(el("ol", "reasons", ...d.reasons.map((r) => el("li", "", r))));
    }
    const records = el("div", "records", el("p", "dim", "Reading the source records…"));
    box.append(el("h3", "", "Source records"), records);
    getJson("/api/actions/" + encodeURIComponent(action.action_id))
      .then((body) => {
        const parts = [];
        for (const [role, entry] of Object.entries(body.source_records)) {
          const title = role === "outcome" ? "outcome record" : "source record";
          if (!entry) {
            parts.push(el("p", "dim", title + ": not in the ledger yet"));
            continue;
          }
          parts.push(
            el("p", "dim", title + " · " + entry.source + " · " + entry.position + (entry.raw_ref ? " · " + entry.raw_ref : "")),
            el("pre", "record", JSON.stringify(entry.record, null, 2)),
          );
        }
        records.replaceChildren(...parts);
      })
      .catch((err) => records.replaceChildren(el("p", "problem", "Could not read them: " + err.message)));
    return box;
  }

  function actionStep(action) {
    const outcome = action.outcome;
    const head = el(
      "button",
      "action-head",
      el("span", "mono dim", time(action.event_time)),
      " ",
      el("span", "what", what(action)),
      " ",
      labelBadge(action.attribution),
      action.attribution.confused_deputy ? badge("possible confused deputy", "deputy") : null,
      " ",
      driftBadge(action),
      " ",
      badge(outcome.status, "outcome outcome-" + outcome.status),
    );
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    const item = el(
      "li",
      "step action",
      el("span", "step-kind", action.kind.replace("_", " ")),
      head,
      action.arguments ? el("div", "arguments mono", clip(action.arguments, 300)) : null,
      outcome.detail ? el("div", "outcome-detail", clip(outcome.detail, 300)) : null,
    );
    item.dataset.actionId = action.action_id;
    let shown = null;
    head.addEventListener("click", () => {
      if (shown) {
        shown.remove();
        shown = null;
      } else {
        shown = details(action);
        item.append(shown);
      }
      head.setAttribute("aria-expanded", shown ? "true" : "false");
    });
    return item;
  }

  function contractionStep(c) {
    const removed = c.decision === "narrow"
      ? "removed " + ([...c.removed_tools, ...c.removed_scopes].join(", ") || "nothing")
      : "every call refused";
    return step(
      "contraction",
      "contraction",
      badge(c.decision, "decision-" + c.decision),
      " " + removed + " · caused by " + (c.cause_tool || "-") + " (drift " + Number(c.score).toFixed(2) + ")",
      el("div", "dim", "rule " + c.policy_rule + " · model " + c.model_version + (c.reasons.length ? " · " + c.reasons.join("; ") : "")),
    );
  }

  async function showSession() {
    const sessionId = decodeURIComponent(window.location.pathname.split("/").pop());
    const chain = await getJson("/api/sessions/" + encodeURIComponent(sessionId));
    const s = chain.session;
    document.getElementById("title").textContent = "Session " + s.session_id;
    document.title = "Agent Ledger · " + s.session_id;
    document.getElementById("summary").textContent =
      String(s.first_seen).slice(0, 19) + " → " + String(s.last_seen).slice(0, 19) + " UTC · sources " +
      (s.sources || []).join(", ") + " · " + s.event_count + " events · " + chain.actions.length +
      " actions · " + chain.contractions.length + " contractions";
    const events = [
      ...chain.actions.map((a) => ({ at: a.event_time, node: () => actionStep(a) })),
      ...chain.contractions.map((c) => ({ at: c.decided_at, node: () => contractionStep(c) })),
    ].sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : 0));
    const merged = chain.merged_sessions.map((m) =>
      step("merged", "merged", m.alias_id + " by " + m.rule + " (" + m.key_type + "=" + clip(m.key_value, 40) + ")"),
    );
    document.getElementById("timeline").replaceChildren(
      ...headSteps(chain),
      ...events.map((e) => e.node()),
      ...merged,
    );
    status("");
  }

  const page = document.body.dataset.page;
  const run = page === "session" ? showSession : page === "sessions" ? showSessions : null;
  if (run) run().catch((err) => status("Could not read the ledger: " + err.message));
})();
