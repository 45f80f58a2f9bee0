// Broker health ($SYS), metrics (Prometheus endpoints), traces, and the task history.
import { h, append, clear, fill, getJSON, agentHref, taskIdCode } from "./dom.js";

function poll(fn, every) {
  fn();
  const timer = setInterval(fn, every);
  return () => clearInterval(timer);
}

export function brokerPage(main) {
  const body = h("div", { id: "broker-body" });
  main.append(h("h1", {}, "Broker health"), h("p", { class: "muted" }, "From the broker's own $SYS topics, as it publishes them."), body);
  return poll(async () => {
    let data;
    try { data = await getJSON("/api/broker"); } catch (err) { fill(body, h("p", { class: "error" }, err.message)); return; }
    clear(body);
    if (!data.available) { body.append(h("p", { class: "notice", id: "broker-none" }, data.message)); return; }
    body.append(
      h("dl", { class: "facts big" }, Object.entries(data.key).map(([k, v]) =>
        [h("dt", {}, k.replace("$SYS/broker/", "")), h("dd", {}, v)])),
      h("p", { class: "muted" }, `updated ${new Date(data.updated * 1000).toLocaleTimeString()}`),
      h("details", {}, h("summary", {}, `Every $SYS topic (${Object.keys(data.topics).length})`),
        h("table", {}, h("tbody", {}, Object.entries(data.topics).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v)))))));
  }, 5000);
}

function sparkline(values) {
  const w = 160, hgt = 32;
  if (values.length < 2) return h("span", { class: "muted small" }, "collecting…");
  const max = Math.max(...values, 1e-9), min = Math.min(...values, 0);
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * w},${hgt - ((v - min) / (max - min || 1)) * hgt}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", hgt); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `last ${values.length} values, latest ${values[values.length - 1]}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", pts); line.setAttribute("class", "spark");
  svg.append(line);
  return svg;
}

function fmtSeconds(v) {
  if (v === null || v === undefined) return "—";
  return v < 1 ? `${(v * 1000).toFixed(1)} ms` : `${v.toFixed(2)} s`;
}

function pct(v) { return v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)} %`; }

// Rates come from the change of cumulative counters between two polls.
export function figuresRow(name, f, rate, history) {
  // The fleet total is a row of its own; "fleet" is also a common org name, so say what it is.
  const label = name === "fleet" ? h("strong", {}, "all agents") : name;
  return h("tr", { "data-agent": name, class: name === "fleet" ? "total" : null }, h("td", {}, label),
    h("td", {}, rate === null ? "—" : `${rate.toFixed(2)}/s`), h("td", {}, sparkline(history)),
    h("td", {}, String(f.requests)), h("td", {}, pct(f.errorRate)),
    h("td", {}, fmtSeconds(f.latency.p50)), h("td", {}, fmtSeconds(f.latency.p95)),
    h("td", {}, fmtSeconds(f.latency.p99)));
}

const FIG_HEAD = ["Agent", "Request rate", "Trend", "Requests", "Error rate", "p50", "p95", "p99"];

export function metricsPage(main) {
  const body = h("div", { id: "metrics-body" });
  const history = new Map();
  let last = null;
  main.append(h("h1", {}, "Metrics"), body);
  // #/metrics?every=SECONDS scrapes more (or less) often than every 5 s.
  const every = Math.max(1, Number(new URLSearchParams(location.hash.split("?")[1] || "").get("every")) || 5);
  return poll(async () => {
    let data;
    try { data = await getJSON("/api/metrics"); } catch (err) { fill(body, h("p", { class: "error" }, err.message)); return; }
    clear(body);
    if (!data.sources.length) { body.append(h("p", { class: "notice", id: "metrics-none" }, data.message)); return; }
    const summary = data.summary || {};
    const rates = new Map();
    const rows = [];
    const entries = summary.fleet ? [["fleet", summary.fleet], ...Object.entries(summary.agents)] : [];
    for (const [name, f] of entries) {
      const prev = last && (name === "fleet" ? last.fleet : (last.agents || {})[name]);
      const rate = prev ? Math.max(0, f.requests - prev.requests) / Math.max(0.001, data.at - last.at) : null;
      const seen = history.get(name) || [];
      if (rate !== null) { seen.push(rate); if (seen.length > 60) seen.shift(); }
      history.set(name, seen);
      rates.set(name, rate);
      rows.push(figuresRow(name, f, rate, seen));
    }
    last = summary.fleet ? { ...summary, at: data.at } : null;
    append(body, [
      rows.length ? [h("h2", {}, "Requests by agent"), h("p", { class: "muted small" },
        `From rpc.server.* of each agent's /metrics; counts and latency since each process started, rates between two scrapes (${every} s).`),
        h("table", { class: "metrics", id: "metrics-agents" }, h("thead", {}, h("tr", {}, FIG_HEAD.map((x) => h("th", {}, x)))),
          h("tbody", {}, rows))]
        : h("p", { class: "notice", id: "metrics-no-agents" }, "The configured endpoints export no rpc.server.* series (no agent metrics yet)."),
      summary.registryCards ? [h("h2", {}, "Registry"), h("dl", { class: "facts" }, Object.entries(summary.registryCards)
        .map(([k, v]) => [h("dt", {}, `cards ${k}`), h("dd", {}, String(v))]))] : null,
      summary.httpRequests ? [h("h2", {}, "HTTP services"), h("dl", { class: "facts" }, Object.entries(summary.httpRequests)
        .map(([k, v]) => [h("dt", {}, `${k} requests`), h("dd", {}, String(v))]))] : null,
      h("h2", {}, "Sources"),
      data.sources.map((src) => src.ok
        ? h("details", {}, h("summary", {}, `${src.url}: ${src.samples.length} series`),
            h("table", { class: "metrics" }, h("tbody", {}, src.samples.filter((x) => !x.name.endsWith("_bucket")).slice(0, 300)
              .map((x) => h("tr", {}, h("td", {}, h("code", {}, x.name), h("div", { class: "small muted" },
                Object.entries(x.labels).map(([k, v]) => `${k}="${v}"`).join(", "))), h("td", {}, String(x.value)))))))
        : h("p", { class: "error" }, `${src.url}: ${src.message}`))]);
  }, every * 1000);
}

export function tracesPage(main, parts) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const task = h("input", { id: "trace-task", type: "search", value: params.get("task") || "", placeholder: "task id" });
  const list = h("div", { id: "traces-list" });
  const tree = h("div", { id: "trace-tree" });
  main.append(h("h1", {}, "Traces"),
    h("p", { class: "muted" }, "Spans the services export over OTLP/HTTP to this dashboard (",
      h("code", {}, `--otlp-endpoint ${location.origin}`), "): each trace as a call tree with its timing."),
    h("form", { class: "filters", role: "search", onsubmit: (ev) => { ev.preventDefault(); load(); } },
      h("label", { class: "field" }, h("span", {}, "Task"), task), h("button", { type: "submit" }, "Find")),
    list, tree);

  async function load() {
    const q = task.value.trim() ? `?task=${encodeURIComponent(task.value.trim())}` : "";
    let out;
    try { out = await getJSON(`/api/traces${q}`); } catch (err) { fill(list, h("p", { class: "error" }, err.message)); return; }
    if (!out.spans) {
      fill(list, h("p", { class: "notice", id: "traces-none" },
        "No trace has arrived: no service exports its spans to this dashboard (start them with --otlp-endpoint pointing here)."));
      return;
    }
    fill(list, out.items.length ? h("table", { class: "agents" },
      h("thead", {}, h("tr", {}, ["Trace", "Root", "Services", "Spans", "Duration", "Tasks"].map((x) => h("th", {}, x)))),
      h("tbody", {}, out.items.map((t) => h("tr", { "data-trace": t.traceId },
        h("td", {}, h("button", { type: "button", class: "small link", "aria-label": `Show trace ${t.traceId}`,
                                  onclick: () => show(t.traceId) }, t.traceId.slice(0, 12))),
        h("td", {}, t.root, t.errors ? h("span", { class: "badge offline" }, ` ${t.errors} error`) : null),
        h("td", {}, t.services.join(", ")), h("td", {}, String(t.spans)),
        h("td", {}, `${t.durationMs.toFixed(1)} ms`), h("td", {}, t.tasks.map(taskIdCode))))))
      : h("p", { class: "muted" }, "No trace matches."));
    if (out.items.length === 1 || parts[0]) show(parts[0] || out.items[0].traceId);
  }

  async function show(traceId) {
    let out;
    try { out = await getJSON(`/api/traces/${traceId}`); } catch (err) { fill(tree, h("p", { class: "error" }, err.message)); return; }
    const spans = out.spans;
    const ids = new Set(spans.map((s) => s.spanId));
    const children = new Map();
    for (const s of spans) {
      const parent = ids.has(s.parentId) ? s.parentId : "";
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(s);
    }
    const t0 = Math.min(...spans.map((s) => s.start));
    const total = Math.max(1, Math.max(...spans.map((s) => s.end)) - t0);
    const rows = [];
    const walk = (parent, depth) => {
      for (const s of children.get(parent) || []) {
        const left = ((s.start - t0) / total) * 100;
        const width = Math.max(0.5, ((s.end - s.start) / total) * 100);
        rows.push(h("li", { class: `span ${s.error ? "error" : ""}`, style: null, "data-depth": depth },
          h("div", { class: "span-label", "data-depth": String(Math.min(depth, 8)) },
            h("b", {}, s.name), ` ${s.kind} · ${s.service} · ${((s.end - s.start) / 1e6).toFixed(2)} ms`,
            s.attributes["a2a.task.id"] ? [" · task ", taskIdCode(s.attributes["a2a.task.id"])] : null),
          bar(left, width)));
        walk(s.spanId, depth + 1);
      }
    };
    walk("", 0);
    fill(tree, h("h2", {}, `Trace ${traceId}`), h("ol", { class: "trace", "aria-label": "Call tree" }, rows));
  }

  load();
  const timer = setInterval(() => { if (!tree.firstChild) load(); }, 3000);
  return () => clearInterval(timer);
}

// The timing bar: an SVG (inline styles are refused by the page's CSP).
function bar(left, width) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "span-bar"); svg.setAttribute("viewBox", "0 0 100 4");
  svg.setAttribute("preserveAspectRatio", "none"); svg.setAttribute("aria-hidden", "true");
  const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
  r.setAttribute("x", String(left)); r.setAttribute("width", String(width));
  r.setAttribute("y", "0"); r.setAttribute("height", "4");
  svg.append(r);
  return svg;
}

export function tasksPage(main) {
  const body = h("div", {});
  main.append(h("h1", {}, "Tasks"), h("p", { class: "muted" }, "Every task this dashboard started or followed (newest first)."), body);
  return poll(async () => {
    const out = await getJSON("/api/tasks");
    fill(body, out.items.length ? h("table", { class: "agents" },
      h("thead", {}, h("tr", {}, h("th", {}, "Agent"), h("th", {}, "Task"), h("th", {}, "State"), h("th", {}, "Events"), h("th", {}, "Updated"))),
      h("tbody", {}, out.items.map((t) => h("tr", {}, h("td", {}, h("a", { href: agentHref(t.agent) }, t.agent)),
        h("td", {}, h("code", {}, t.taskId)), h("td", {}, (t.state || "?").replace("TASK_STATE_", "").toLowerCase()),
        h("td", {}, String(t.events)), h("td", {}, new Date(t.updated * 1000).toLocaleTimeString())))))
      : h("p", { class: "muted" }, "No task yet."));
  }, 3000);
}
