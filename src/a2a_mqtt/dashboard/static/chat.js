// The generic client: talk to one agent, watch its events and the wire.
import { h, clear, fill, getJSON, readNdjson, taskIdCode, toast } from "./dom.js";
import { app } from "./app.js";

const FINAL = new Set(["TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED",
                       "TASK_STATE_REJECTED"]);

function stateName(state) {
  return (state || "").replace("TASK_STATE_", "").toLowerCase().replace("_", "-");
}

function partsView(parts) {
  return (parts || []).map((p) => {
    if (p.text !== undefined) return h("div", { class: "part text" }, p.text);
    if (p.data !== undefined) return h("pre", { class: "part data" }, JSON.stringify(p.data, null, 2));
    if (p.raw !== undefined || p.url !== undefined) return fileView(p);
    return h("pre", { class: "part" }, JSON.stringify(p));
  });
}

function fileView(p) {
  const name = p.filename || "file";
  const media = p.mediaType || "application/octet-stream";
  if (p.url !== undefined) {
    return h("div", { class: "part file" }, h("a", { href: p.url, target: "_blank", rel: "noopener" }, `${name} (${media})`));
  }
  const bytes = Uint8Array.from(atob(p.raw), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: media }));
  return h("div", { class: "part file" },
    media.startsWith("image/") ? h("img", { src: url, alt: name, class: "artifact-image" }) : null,
    h("a", { href: url, download: name, class: "download" }, `Download ${name}`),
    h("small", { class: "muted" }, ` ${media}, ${bytes.length} bytes`));
}

function replyLabel(payload) {
  if (payload.error) return `error ${payload.error.code || ""}`;
  const result = payload.result;
  if (!result || typeof result !== "object") return "reply";
  if (result.id && result.status) return `task ${stateName(result.status.state)}`;
  const kind = Object.keys(result)[0] || "end of stream";
  const body = result[kind] || {};
  const state = (body.status && body.status.state) || "";
  return `${kind} ${stateName(state)}`.trim();
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, mediaType: file.type || "application/octet-stream",
                                    base64: String(reader.result).split(",", 2)[1] || "" });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function chatPanel(ref, card) {
  const log = h("ol", { id: "chat-log", class: "chat-log", "aria-live": "polite", "aria-label": "Conversation" });
  const wire = h("ol", { id: "wire", class: "wire", "aria-label": "Wire inspector" });
  const tasks = h("ul", { id: "task-list", class: "task-list" });
  const remote = h("div", { id: "remote-tasks", "aria-live": "polite" });
  const text = h("textarea", { id: "chat-text", rows: "3", placeholder: "Message text" });
  const data = h("textarea", { id: "chat-data", rows: "2", placeholder: '{"optional": "JSON data part"}' });
  const meta = h("input", { id: "chat-meta", type: "text", placeholder: '{"delay": 5}' });
  const files = h("input", { id: "chat-files", type: "file", multiple: true });
  const send = h("button", { type: "submit", id: "send" }, "Send");
  const cancel = h("button", { type: "button", id: "cancel", disabled: true, onclick: () => cancelTask() }, "Cancel task");
  const resub = h("button", { type: "button", id: "resubscribe", disabled: true, onclick: () => resubscribe() }, "Resubscribe");
  const fresh = h("button", { type: "button", id: "new-conversation", onclick: () => newConversation() }, "New conversation");
  const taskLine = h("p", { id: "task-line", class: "muted" }, "No task yet.");
  const field = (label, input) => h("label", { class: "field wide" }, h("span", {}, label), input);
  const locked = !app.mayAct();

  const form = h("form", { class: "compose", onsubmit: (ev) => { ev.preventDefault(); submit(); } },
    field("Text", text), field("Data (JSON, optional)", data),
    h("div", { class: "row" }, field("Files", files), field("Metadata (JSON, optional)", meta)),
    h("div", { class: "row buttons" }, send, cancel, resub, fresh));
  if (locked) for (const el of form.querySelectorAll("button, textarea, input")) el.disabled = true;

  const element = h("section", { class: "client", "aria-labelledby": "client-h" },
    h("h2", { id: "client-h" }, "Talk to it"),
    locked ? h("p", { class: "notice", role: "note" }, app.info.readOnly
      ? "This dashboard is read-only: it does not send or cancel."
      : "Sign in (top right) to send messages or cancel tasks.") : null,
    h("div", { class: "columns" },
      h("div", {}, form, taskLine, log),
      h("div", {}, h("h3", {}, "Wire inspector"),
        h("p", { class: "muted small" }, "Each MQTT publish of a call and each reply, with topic, properties and JSON-RPC body."),
        wire, h("h3", {}, "Tasks"), tasks,
        h("button", { type: "button", id: "agent-tasks", disabled: locked, onclick: () => agentTasks() },
          "Ask the agent for its tasks (ListTasks)"), remote)));

  let current = { taskId: null, contextId: null, state: null };
  let controller = null;

  function note(cls, ...children) {
    const item = h("li", { class: cls }, ...children);
    log.append(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function showWire(w) {
    const payload = w.payload || {};
    const label = w.direction === "request" ? `→ ${payload.method || "publish"}`
      : w.direction === "reply" ? `← ${replyLabel(payload)}` : `· ${w.direction}`;
    wire.append(h("li", { class: `wire-item ${w.direction}` },
      h("details", {}, h("summary", {}, h("b", { class: "wire-method" }, label), " ", h("code", {}, w.topic)),
        h("pre", {}, JSON.stringify({ topic: w.topic, qos: w.qos, properties: w.properties, payload }, null, 2)))));
  }

  function showResult(result) {
    if (result.task) {
      const t = result.task;
      track(t.id, t.contextId, t.status && t.status.state);
      note("event task", h("b", {}, "task "), h("code", {}, t.id), " ", stateName(t.status && t.status.state));
      for (const m of t.history || []) if (m.role === "ROLE_AGENT") note("event message", partsView(m.parts));
      for (const a of t.artifacts || []) note("event artifact", h("b", {}, `artifact ${a.name || ""}`), partsView(a.parts));
    } else if (result.statusUpdate) {
      const s = result.statusUpdate;
      const state = s.status && s.status.state;
      track(s.taskId, s.contextId, state);
      note(`event status ${stateName(state)}`, h("span", { class: `state ${stateName(state)}` }, stateName(state)), " ",
           s.status && s.status.message ? partsView(s.status.message.parts) : null);
    } else if (result.artifactUpdate) {
      const a = result.artifactUpdate.artifact || {};
      note("event artifact", h("b", {}, `artifact ${a.name || a.artifactId || ""}`), partsView(a.parts));
    } else if (result.message) {
      note("event message", partsView(result.message.parts));
    } else if (result.id && result.status) {
      track(result.id, result.contextId, result.status.state);
      note(`event status ${stateName(result.status.state)}`, `task ${stateName(result.status.state)}`);
    }
  }

  function track(taskId, contextId, state) {
    if (taskId) current.taskId = taskId;
    if (contextId) current.contextId = contextId;
    if (state) current.state = state;
    const running = current.taskId && !FINAL.has(current.state);
    cancel.disabled = locked || !running;
    resub.disabled = locked || !current.taskId;
    fill(taskLine, current.taskId
      ? [`Task ${current.taskId}: ${stateName(current.state) || "?"}${current.state === "TASK_STATE_INPUT_REQUIRED" ? " (your next message continues it)" : ""} · `,
         h("a", { href: `#/traces?task=${encodeURIComponent(current.taskId)}` }, "its trace")]
      : "No task yet.");
  }

  async function stream(url, body) {
    controller = new AbortController();
    let resp;
    try {
      resp = await fetch(url, { method: "POST", credentials: "same-origin", signal: controller.signal,
                                headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) { note("error", `Not sent: ${err.message}`); return; }
    if (!resp.ok) {
      let message = `HTTP ${resp.status}`;
      try { message = (await resp.json()).message || message; } catch (_) { /* not JSON */ }
      note("error", h("span", { role: "alert" }, resp.status === 413 ? `Too large: ${message}` : message));
      return;
    }
    try {
      await readNdjson(resp, (item) => {
        if (item.kind === "wire") showWire(item.item);
        else if (item.kind === "event") showResult(item.result || {});
        else if (item.kind === "error") note("error", h("span", { role: "alert" }, `${item.type}: ${item.message}`));
        else if (item.kind === "call") note("call muted", `${item.method} → ${item.agent}`);
      });
    } catch (err) {
      if (err.name !== "AbortError") note("error", `The stream broke: ${err.message}`);
    } finally { controller = null; refreshTasks(); }
  }

  async function submit() {
    let dataValue = null;
    let metaValue = null;
    try {
      if (data.value.trim()) dataValue = JSON.parse(data.value);
      if (meta.value.trim()) metaValue = JSON.parse(meta.value);
    } catch (err) { toast(`Not JSON: ${err.message}`); return; }
    const fileValues = [];
    for (const f of files.files) fileValues.push(await readFile(f));
    const body = { text: text.value };
    if (dataValue !== null) body.data = dataValue;
    if (metaValue !== null) body.metadata = metaValue;
    if (fileValues.length) body.files = fileValues;
    if (current.taskId && current.state === "TASK_STATE_INPUT_REQUIRED") body.taskId = current.taskId;
    else if (current.state && FINAL.has(current.state)) current.taskId = null;
    if (current.contextId) body.contextId = current.contextId;
    note("user", h("b", {}, "you: "), text.value, dataValue !== null ? h("pre", {}, JSON.stringify(dataValue)) : null,
         fileValues.map((f) => h("span", { class: "tag" }, f.name)));
    text.value = "";
    files.value = "";
    await stream(`/api/send?agent=${encodeURIComponent(ref)}`, body);
  }

  async function cancelTask(taskId = current.taskId) {
    if (!taskId) return;
    const resp = await fetch(`/api/cancel?agent=${encodeURIComponent(ref)}&task=${encodeURIComponent(taskId)}`,
                             { method: "POST", credentials: "same-origin" });
    let out = {};
    try { out = await resp.json(); } catch (_) { out = {}; }
    for (const w of out.wire || []) showWire(w);
    if (!resp.ok) { note("error", h("span", { role: "alert" }, `Cancel failed: ${(out.error && out.error.message) || out.message || resp.status}`)); return; }
    note("event status canceled", "cancel requested: ", stateName(out.result && out.result.status && out.result.status.state));
    if (out.result && out.result.status) track(out.result.id, out.result.contextId, out.result.status.state);
    refreshTasks();
  }

  async function resubscribe(taskId = current.taskId) {
    if (!taskId) return;
    if (controller) controller.abort();
    await stream(`/api/subscribe?agent=${encodeURIComponent(ref)}&task=${encodeURIComponent(taskId)}`);
  }

  function newConversation() {
    if (controller) controller.abort();
    current = { taskId: null, contextId: null, state: null };
    clear(log); clear(wire); track();
  }

  async function refreshTasks() {
    let out;
    try { out = await getJSON(`/api/tasks?agent=${encodeURIComponent(ref)}`); } catch (_) { return; }
    // A task's short name is its id's last 8 digits: a UUIDv7's first 8 are its timestamp,
    // the same for every task of a minute (docs/binding.md §6.2).
    fill(tasks, out.items.length ? out.items.map((t) => h("li", {},
      taskIdCode(t.taskId), " ", h("span", { class: `state ${stateName(t.state)}` }, stateName(t.state) || "?"),
      ` ${t.events} events `,
      h("button", { type: "button", class: "small", disabled: locked, "aria-label": `Resubscribe to task ${t.taskId}`,
                    onclick: () => { current.taskId = t.taskId; current.contextId = t.contextId; resubscribe(t.taskId); } }, "Resubscribe"),
      FINAL.has(t.state) ? null : h("button", { type: "button", class: "small", disabled: locked,
                    "aria-label": `Cancel task ${t.taskId}`, onclick: () => cancelTask(t.taskId) }, "Cancel")))
      : h("li", { class: "muted" }, "No task with this agent yet."));
  }

  async function agentTasks() {
    const resp = await fetch(`/api/remote-tasks?agent=${encodeURIComponent(ref)}`, { credentials: "same-origin" });
    let out = {};
    try { out = await resp.json(); } catch (_) { out = {}; }
    for (const w of out.wire || []) showWire(w);
    if (!resp.ok) {
      fill(remote, h("p", { class: "error", role: "alert" }, `ListTasks failed: ${(out.error && out.error.message) || out.message || resp.status}`));
      return;
    }
    const items = (out.result && out.result.tasks) || [];
    fill(remote, items.length ? h("ul", { class: "task-list" }, items.map((t) => h("li", {},
      h("code", {}, t.id), " ", h("span", { class: `state ${stateName(t.status && t.status.state)}` },
        stateName(t.status && t.status.state) || "?"), ` ${(t.history || []).length} messages`)))
      : h("p", { class: "muted" }, "The agent lists no task."));
  }

  refreshTasks();
  return { element, close() { if (controller) controller.abort(); } };
}
