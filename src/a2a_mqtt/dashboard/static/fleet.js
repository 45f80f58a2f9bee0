// The fleet: every agent and pool as an org → unit tree, filters, pages, live updates.
import { h, append, clear, fill, getJSON, ago, agentHref, statusBadge } from "./dom.js";
import { app } from "./app.js";

const PAGE = 50;

export function fleetPage(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const q = h("input", { id: "f-q", type: "search", value: params.get("q") || "",
                         placeholder: "name, skill, words…" });
  const skill = h("input", { id: "f-skill", type: "text", value: params.get("skill") || "" });
  const tag = h("input", { id: "f-tag", type: "text", value: params.get("tag") || "" });
  const org = h("input", { id: "f-org", type: "text", size: "10", value: params.get("org") || "" });
  const unit = h("input", { id: "f-unit", type: "text", size: "10", value: params.get("unit") || "" });
  const status = h("select", { id: "f-status" },
    h("option", { value: "" }, "any"), h("option", { value: "online" }, "online"),
    h("option", { value: "offline" }, "offline"));
  const kind = h("select", { id: "f-kind" },
    h("option", { value: "" }, "agents and pools"), h("option", { value: "agent" }, "agents"),
    h("option", { value: "pool" }, "pools"));
  const summary = h("p", { id: "fleet-summary", class: "muted", "aria-live": "polite" });
  const feedState = h("span", { id: "feed-state", class: "pill" }, app.feedState);
  const tree = h("div", { id: "fleet-tree", class: "tree" });
  const pager = h("nav", { class: "pager", "aria-label": "Fleet pages" });
  const rejected = h("section", { id: "rejected", "aria-labelledby": "rejected-h", hidden: true });

  const field = (label, input) => h("label", { class: "field" }, h("span", {}, label), input);
  main.append(
    h("h1", {}, "Fleet ", feedState),
    h("form", { class: "filters", role: "search", onsubmit: (ev) => { ev.preventDefault(); reload(); } },
      field("Search", q), field("Skill", skill), field("Tag", tag), field("Org", org),
      field("Unit", unit), field("Status", status),
      field("Kind", kind), h("button", { type: "submit" }, "Filter")),
    summary, tree, pager, rejected);

  let cursors = [null];
  let pageIndex = 0;
  let timer = null;
  let seq = 0;

  function filters() {
    const out = new URLSearchParams();
    for (const [name, el] of [["q", q], ["skill", skill], ["tag", tag], ["org", org],
                              ["unit", unit], ["status", status], ["kind", kind]]) {
      if (el.value.trim()) out.set(name, el.value.trim());
    }
    return out;
  }

  function reload() { cursors = [null]; pageIndex = 0; load(); }

  function narrow(orgName, unitName) {
    org.value = orgName;
    unit.value = unitName;
    reload();
  }

  async function load() {
    const mine = ++seq;
    const params = filters();
    params.set("limit", String(PAGE));
    if (cursors[pageIndex]) params.set("cursor", cursors[pageIndex]);
    let page;
    try {
      page = await getJSON(`/api/fleet?${params}`);
    } catch (err) {
      if (mine === seq) { fill(tree, h("p", { class: "error", role: "alert" }, err.message)); }
      return;
    }
    if (mine !== seq) return;  // a newer load won
    cursors[pageIndex + 1] = page.next;
    renderTree(page.items);
    const first = pageIndex * PAGE + 1;
    summary.textContent = page.total
      ? `${page.total} match${page.total === 1 ? "" : "es"}; showing ${first}–${first + page.items.length - 1}`
      : "No agent matches.";
    fill(pager, 
      h("button", { type: "button", disabled: pageIndex === 0,
                    onclick: () => { pageIndex -= 1; load(); } }, "‹ Previous"),
      h("span", {}, ` page ${pageIndex + 1} of ${Math.max(1, Math.ceil(page.total / PAGE))} `),
      h("button", { type: "button", disabled: !page.next,
                    onclick: () => { pageIndex += 1; load(); } }, "Next ›"));
  }

  function renderTree(items) {
    const orgs = new Map();
    for (const item of items) {
      if (!orgs.has(item.org)) orgs.set(item.org, new Map());
      const units = orgs.get(item.org);
      if (!units.has(item.unit)) units.set(item.unit, []);
      units.get(item.unit).push(item);
    }
    clear(tree);
    for (const [orgName, units] of orgs) {
      const unitNodes = [];
      for (const [unitName, members] of units) {
        unitNodes.push(h("details", { open: true, class: "unit" },
          h("summary", {}, h("span", { class: "unit-name" }, unitName), h("small", { class: "muted" }, ` ${members.length} `),
            h("button", { type: "button", class: "small link", "aria-label": `Show only unit ${orgName}/${unitName}`,
                          onclick: () => narrow(orgName, unitName) }, "only this unit")),
          h("table", { class: "agents" },
            h("thead", {}, h("tr", {}, h("th", {}, "Agent"), h("th", {}, "Status"),
                                 h("th", {}, "Skills"), h("th", {}, "Tags"), h("th", {}, "Last change"))),
            h("tbody", {}, members.map(row)))));
      }
      append(tree, [h("details", { open: true, class: "org" },
        h("summary", {}, h("span", { class: "org-name" }, orgName), " ",
          h("button", { type: "button", class: "small link", "aria-label": `Show only org ${orgName}`,
                        onclick: () => narrow(orgName, "") }, "only this org")), unitNodes)]);
    }
  }

  function row(item) {
    const name = item.kind === "pool" ? `pool ${item.pool}` : item.agent;
    return h("tr", { "data-ref": item.ref, class: item.status },
      h("td", {}, h("a", { href: agentHref(item.ref) }, name), h("div", { class: "muted small" }, item.name)),
      h("td", { class: "status" }, statusBadge(item.status, item.statusSource)),
      h("td", {}, (item.skills || []).join(", ")),
      h("td", {}, (item.tags || []).map((t) => h("span", { class: "tag" }, t))),
      h("td", { title: item.observed && item.observed.changedAt },
        item.observed ? ago(item.observed.statusSince) : ""));
  }

  async function loadRejected() {
    let page;
    try { page = await getJSON("/api/rejected?limit=50"); } catch (err) { return; }
    clear(rejected);
    rejected.hidden = !page.total;
    if (!page.total) return;
    rejected.append(h("h2", { id: "rejected-h" }, `Rejected cards (${page.total})`),
      h("table", { class: "rejected" },
        h("thead", {}, h("tr", {}, h("th", {}, "Topic"), h("th", {}, "Reasons"))),
        h("tbody", {}, page.items.map((r) => h("tr", { "data-topic": r.topic },
          h("td", {}, r.ref || r.topic), h("td", {}, h("ul", {}, r.reasons.map((x) => h("li", {}, x)))))))));
  }

  // Live: a change refreshes the page shown (debounced); nobody presses reload.
  const off = app.onFeed((kind) => {
    feedState.textContent = app.feedState;
    if (kind === "state") return;
    clearTimeout(timer);
    timer = setTimeout(() => { load(); if (kind === "rejected" || kind === "resync") loadRejected(); }, 150);
  });
  for (const el of [status, kind]) el.addEventListener("change", reload);
  let typing = null;
  for (const el of [q, skill, tag, org, unit]) {
    el.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(reload, 200); });
  }
  load();
  loadRejected();
  return () => { off(); clearTimeout(timer); };
}
