// Small DOM and HTTP helpers. Text always goes in as text nodes: card content is
// written by whoever publishes a card, so nothing here ever parses it as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export class HttpError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function getJSON(url, options = {}) {
  const resp = await fetch(url, { credentials: "same-origin", ...options });
  let body = null;
  try { body = await resp.json(); } catch (_) { body = null; }
  if (!resp.ok) throw new HttpError(resp.status, body);
  return body;
}

export function postJSON(url, value) {
  return getJSON(url, { method: "POST", headers: { "Content-Type": "application/json" },
                        body: JSON.stringify(value) });
}

// Read an NDJSON response, calling onItem for each line as it arrives.
export async function readNdjson(resp, onItem) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) onItem(JSON.parse(line));
    }
  }
  if (buffer.trim()) onItem(JSON.parse(buffer));
}

export function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 4000);
}

export function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function agentHref(ref) {
  return "#/agent/" + ref.split("/").map(encodeURIComponent).join("/");
}

// A task id shown by its last 8 digits (a UUIDv7's first 8 are its creation time, the
// same for every task of a second), the whole id on hover.
export function taskIdCode(id) {
  const text = String(id);
  return h("code", { title: text }, text.slice(-8));
}

export function statusBadge(status, source) {
  return h("span", { class: `badge ${status}`, title: `status source: ${source || "?"}` },
           status, source ? h("small", {}, ` (${source})`) : null);
}

// Replace an element's children (arrays flattened, null and false skipped).
export function fill(el, ...children) {
  return append(clear(el), children);
}
