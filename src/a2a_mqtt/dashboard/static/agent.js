// One agent (or pool): its card, readable and raw, its gateway links, and the client.
import { h, clear, fill, getJSON, agentHref, statusBadge, ago } from "./dom.js";
import { app } from "./app.js";
import { chatPanel } from "./chat.js";

function list(items, render) {
  return items && items.length ? h("ul", {}, items.map((x) => h("li", {}, render(x)))) : h("p", { class: "muted" }, "none");
}

function cardView(card, entry) {
  const caps = card.capabilities || {};
  const flags = ["streaming", "pushNotifications", "extendedAgentCard"]
    .map((k) => h("span", { class: `flag ${caps[k] ? "on" : "off"}` }, `${k}: ${caps[k] ? "yes" : "no"}`));
  const sig = entry.signature;
  const signature = sig === undefined || sig === null
    ? h("span", { class: "muted" }, "not checked by the registry (no card policy)")
    : sig.verified ? h("span", { class: "badge online" }, `verified (kid ${sig.kid || "?"})`)
      : h("span", { class: "badge offline" }, `not verified: ${(sig.reasons || []).join("; ")}`);
  const schemes = Object.entries(card.securitySchemes || {});
  return h("section", { class: "card-view", "aria-labelledby": "card-h" },
    h("h2", { id: "card-h" }, "Card"),
    h("p", { class: "description" }, card.description || ""),
    h("dl", { class: "facts" },
      h("dt", {}, "Version"), h("dd", {}, card.version || "?"),
      h("dt", {}, "Provider"), h("dd", {}, card.provider ? `${card.provider.organization || ""} ${card.provider.url || ""}` : "—"),
      h("dt", {}, "Input modes"), h("dd", {}, (card.defaultInputModes || []).join(", ")),
      h("dt", {}, "Output modes"), h("dd", {}, (card.defaultOutputModes || []).join(", ")),
      h("dt", {}, "Capabilities"), h("dd", {}, flags),
      h("dt", {}, "Signature"), h("dd", { id: "signature" }, signature)),
    h("h3", {}, "Skills"),
    (card.skills || []).length ? (card.skills || []).map((s) => h("article", { class: "skill" },
      h("h4", {}, s.name || s.id, h("small", { class: "muted" }, ` ${s.id}`)),
      h("p", {}, s.description || ""),
      h("div", {}, (s.tags || []).map((t) => h("span", { class: "tag" }, t))),
      s.examples && s.examples.length ? h("div", { class: "examples" }, h("b", {}, "Examples: "),
        s.examples.map((e) => h("code", { class: "example" }, e))) : null,
      s.inputModes ? h("div", { class: "small" }, `in: ${s.inputModes.join(", ")}`) : null,
      s.outputModes ? h("div", { class: "small" }, `out: ${s.outputModes.join(", ")}`) : null))
      : h("p", { class: "muted" }, "no skills"),
    h("h3", {}, "Interfaces"),
    list(card.supportedInterfaces || [], (i) => [h("code", {}, i.protocolBinding || "?"), " ", i.url || ""]),
    h("h3", {}, "Security schemes"),
    schemes.length ? h("ul", {}, schemes.map(([name, s]) => h("li", {}, h("b", {}, name), " ", JSON.stringify(s))))
      : h("p", { class: "muted" }, "none (the agent takes unauthenticated requests)"),
    caps.extensions && caps.extensions.length ? [h("h3", {}, "Extensions"),
      list(caps.extensions, (e) => [h("code", {}, e.uri), e.params ? ` ${JSON.stringify(e.params)}` : ""])] : null);
}

async function showMetrics(name) {
  const box = document.getElementById("agent-metrics");
  let data;
  try { data = await getJSON("/api/metrics"); } catch (err) { box.textContent = err.message; return; }
  const f = data.summary && data.summary.agents && data.summary.agents[name];
  if (!f) { box.textContent = `The metrics endpoints have no rpc.server.* series for ${name}.`; return; }
  const ms = (v) => (v === null ? "—" : `${(v * 1000).toFixed(1)} ms`);
  fill(box, h("dl", { class: "facts" },
    h("dt", {}, "Requests"), h("dd", {}, String(f.requests)),
    h("dt", {}, "Errors"), h("dd", {}, `${f.errors}${f.errorRate === null ? "" : ` (${(f.errorRate * 100).toFixed(1)} %)`}`),
    h("dt", {}, "Latency p50 / p95 / p99"), h("dd", {}, `${ms(f.latency.p50)} / ${ms(f.latency.p95)} / ${ms(f.latency.p99)}`)),
    h("p", { class: "small" }, "Since the agent's process started; rates on the ", h("a", { href: "#/metrics" }, "Metrics page"), "."));
}

export function agentPage(main, parts) {
  const ref = parts.join("/");
  const head = h("div", { class: "agent-head" }, h("h1", {}, ref));
  const body = h("div", { class: "agent-body" });
  main.append(h("p", {}, h("a", { href: "#/fleet" }, "‹ Fleet")), head, body);
  let chat = null;

  async function load() {
    let data;
    try {
      data = await getJSON(`/api/agents/${ref}`);
    } catch (err) {
      fill(body, h("p", { class: "error", role: "alert", id: "agent-error" },
        err.status === 400 ? `That is not an agent reference: ${err.message}`
          : err.status === 404 ? `Unknown agent: ${err.message}` : err.message));
      return;
    }
    const entry = data.entry;
    const card = entry.card || {};
    fill(head, 
      h("h1", {}, card.name || ref, " ", h("span", { id: "agent-status" }, statusBadge(entry.status, entry.statusSource))),
      h("p", { class: "muted" }, h("code", {}, ref), ` · ${entry.kind} · status since ${ago(entry.observed.statusSince)}`,
        data.pool ? [" · member of ", h("a", { href: agentHref(data.pool) }, data.pool)] : null));
    if (chat) return;  // keep the conversation; only the head follows the feed
    const links = data.gateway
      ? h("ul", { class: "links" }, Object.entries(data.gateway).map(([k, url]) =>
          h("li", {}, h("a", { href: url, target: "_blank", rel: "noopener" }, `${k}: ${url}`))))
      : h("p", { class: "muted" }, "No gateway configured (dashboard --gateway-url).");
    const members = data.members === null ? null : h("section", {},
      h("h2", {}, `Pool members (${data.members.length})`),
      list(data.members, (m) => [h("a", { href: agentHref(m.ref) }, m.ref), " ", statusBadge(m.status, m.statusSource)]));
    chat = chatPanel(ref, card);
    fill(body, 
      h("div", { class: "columns" }, cardView(card, entry),
        h("section", { class: "raw", "aria-labelledby": "raw-h" }, h("h2", { id: "raw-h" }, "Raw JSON"),
          h("pre", { tabindex: "0", "aria-label": "Card JSON" }, JSON.stringify(card, null, 2)))),
      chat.element,
      members,
      h("div", { class: "columns" },
        h("section", {}, h("h2", {}, "Gateway"), links),
        h("section", {}, h("h2", {}, "Metrics"), h("p", { class: "muted", id: "agent-metrics" },
          app.info.metricsSources ? "Reading the metrics endpoints…" :
            "No metrics source is configured, so there is nothing to show (never made up)."))));
    if (app.info.metricsSources) showMetrics(entry.agent || entry.pool);
  }

  const off = app.onFeed((kind, data) => { if (data && data.ref === ref) load(); });
  load();
  return () => { off(); if (chat) chat.close(); };
}
