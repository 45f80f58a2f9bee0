// Entry point: the router (#/page/...), the session widget and the shared fleet feed.
import { h, clear, getJSON, postJSON, toast } from "./dom.js";
import { fleetPage } from "./fleet.js";
import { agentPage } from "./agent.js";
import { brokerPage, metricsPage, tracesPage, tasksPage } from "./pages.js";

export const app = {
  info: null,
  listeners: new Set(),
  feedState: "connecting",
  onFeed(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); },
  mayAct() { return this.info && !this.info.readOnly && this.info.signedIn; },
};

const KINDS = ["added", "updated", "online", "offline", "removed", "rejected", "resync"];
let registryUp = true;

function openFeed() {
  const source = new EventSource("/api/events");
  const dispatch = (kind, data) => { for (const fn of app.listeners) fn(kind, data); };
  for (const kind of KINDS) {
    source.addEventListener(kind, (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch (_) { data = null; }
      dispatch(kind, data);
    });
  }
  // "feed": whether the dashboard's own link to the registry's change feed is up.
  source.addEventListener("feed", (ev) => {
    registryUp = JSON.parse(ev.data).connected;
    app.feedState = registryUp ? "live" : "registry unreachable";
    dispatch(registryUp ? "resync" : "state", null);
  });
  source.onopen = () => { app.feedState = registryUp ? "live" : "registry unreachable"; dispatch("state", null); };
  source.onerror = () => { app.feedState = "reconnecting"; dispatch("state", null); };
}

async function loadInfo() {
  app.info = await getJSON("/api/info");
  renderSession();
}

function renderSession() {
  const box = clear(document.getElementById("session"));
  const info = app.info;
  if (info.readOnly) {
    box.append(h("span", { class: "pill" }, "read-only"));
    return;
  }
  if (!info.signInRequired) {
    box.append(h("span", { class: "pill", title: "no sign-in configured (loopback only)" },
                 "open (local)"));
    return;
  }
  if (info.signedIn) {
    box.append(h("span", { class: "pill ok" }, "signed in"), " ",
               h("button", { type: "button", onclick: signOut }, "Sign out"));
    return;
  }
  const input = h("input", { type: "password", id: "secret", autocomplete: "current-password",
                             "aria-label": "Password or access token", placeholder: "password or token" });
  const form = h("form", { class: "signin", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await postJSON("/api/session", { secret: input.value });
      input.value = "";
      toast("Signed in.");
      await loadInfo();
      route();
    } catch (err) { toast(`Sign-in failed: ${err.message}`); }
  } }, input, h("button", { type: "submit" }, "Sign in"));
  box.append(form);
}

async function signOut() {
  await getJSON("/api/session", { method: "DELETE" });
  await loadInfo();
  route();
}

let cleanup = null;

export function route() {
  const main = clear(document.getElementById("main"));
  if (cleanup) { cleanup(); cleanup = null; }
  const hash = location.hash.replace(/^#\/?/, "") || "fleet";
  const [page, ...rest] = hash.split("?")[0].split("/");
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const pages = { fleet: fleetPage, agent: agentPage, broker: brokerPage,
                  metrics: metricsPage, traces: tracesPage, tasks: tasksPage };
  const render = pages[page];
  if (!render) {
    main.append(h("h1", {}, "Not found"), h("p", {}, `No page “${page}”. `,
                h("a", { href: "#/fleet" }, "Back to the fleet")));
    return;
  }
  document.title = `${page} · a2a-mqtt dashboard`;
  cleanup = render(main, rest.map(decodeURIComponent)) || null;
}

window.addEventListener("hashchange", route);
loadInfo().then(() => { openFeed(); route(); })
  .catch((err) => toast(`The dashboard did not answer: ${err.message}`));
