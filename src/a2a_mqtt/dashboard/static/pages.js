// Broker health ($SYS), metrics (Prometheus endpoints), traces, and the task history.
import { h, clear, fill, getJSON, agentHref } from "./dom.js";

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

export function metricsPage(main) {
  const body = h("div", { id: "metrics-body" });
  const history = new Map();
  main.append(h("h1", {}, "Metrics"), body);
  return poll(async () => {
    let data;
    try { data = await getJSON("/api/metrics"); } catch (err) { fill(body, h("p", { class: "error" }, err.message)); return; }
    clear(body);
    if (!data.sources.length) { body.append(h("p", { class: "notice", id: "metrics-none" }, data.message)); return; }
    for (const src of data.sources) {
      if (!src.ok) { body.append(h("h2", {}, src.url), h("p", { class: "error" }, src.message)); continue; }
      const rows = src.samples.filter((s) => !s.name.endsWith("_bucket"));
      body.append(h("h2", {}, src.url), h("table", { class: "metrics" },
        h("thead", {}, h("tr", {}, h("th", {}, "Series"), h("th", {}, "Value"), h("th", {}, "Trend"))),
        h("tbody", {}, rows.slice(0, 300).map((s) => {
          const key = `${src.url} ${s.name}${JSON.stringify(s.labels)}`;
          const seen = history.get(key) || [];
          seen.push(s.value); if (seen.length > 60) seen.shift();
          history.set(key, seen);
          const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(", ");
          return h("tr", {}, h("td", {}, h("code", {}, s.name), labels ? h("div", { class: "small muted" }, labels) : null),
                   h("td", {}, String(s.value)), h("td", {}, sparkline(seen)));
        }))));
    }
  }, 5000);
}

export function tracesPage(main) {
  main.append(h("h1", {}, "Traces"), h("p", { class: "notice", id: "traces-none" },
    "No trace source is connected to this dashboard, so there is no call tree to show. " +
    "Traces light up here once the services export them (see docs/dashboard.md)."));
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
