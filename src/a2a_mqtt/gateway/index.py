"""The gateway's index (``GET /``): every agent it can reach, with links (HTML or JSON)."""

from __future__ import annotations

import html
from typing import Any

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH

from a2a_mqtt.client.discovery import AgentEntry
from a2a_mqtt.gateway.layout import jsonrpc_url, rest_url

__all__ = ["index_html", "index_json"]


def _row(entry: AgentEntry, base_url: str) -> dict[str, Any]:
    card = entry.card
    url = jsonrpc_url(base_url, entry.ref)
    return {
        "agent": str(entry.ref),
        "pool": entry.ref.pool,
        "name": card.name if card is not None else "",
        "description": card.description if card is not None else "",
        "status": entry.status,
        "statusSource": entry.status_source,
        "skills": [s.name or s.id for s in card.skills] if card is not None else [],
        "card": f"{url}{AGENT_CARD_WELL_KNOWN_PATH}" if card is not None else None,
        "jsonrpc": url if card is not None else None,
        "httpJson": rest_url(base_url, entry.ref) if card is not None else None,
        "problems": list(entry.problems),
    }


def index_json(entries: list[AgentEntry], base_url: str) -> dict[str, Any]:
    """``{"agents": [...]}``, one object per agent in reference order."""
    return {"agents": [_row(e, base_url) for e in entries]}


def _link(url: str | None, text: str) -> str:
    if url is None:
        return ""
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(text)}</a>'


def index_html(entries: list[AgentEntry], base_url: str) -> str:
    """A small self-contained page listing the agents."""
    rows = []
    for entry in entries:
        row = _row(entry, base_url)
        status = html.escape(row["status"])
        rows.append(
            "<tr>"
            f"<td><code>{html.escape(row['agent'])}</code></td>"
            f"<td>{html.escape(row['name'])}<br><small>{html.escape(row['description'])}"
            "</small></td>"
            f'<td class="{status}">{status}</td>'
            f"<td>{html.escape(', '.join(row['skills']))}</td>"
            f"<td>{_link(row['card'], 'card')} {_link(row['jsonrpc'], 'JSON-RPC')} "
            f"{_link(row['httpJson'], 'HTTP+JSON')}"
            f"{html.escape('; '.join(row['problems']))}</td>"
            "</tr>")
    body = "\n".join(rows) or '<tr><td colspan="5">No agents known yet.</td></tr>'
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>a2a-mqtt gateway</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}"
        ".online{color:#070}.offline{color:#a00}</style></head><body>"
        "<h1>a2a-mqtt gateway</h1><p>A2A agents on MQTT, served over JSON-RPC and "
        "HTTP+JSON. <a href=\"?format=json\">JSON</a></p>"
        "<table><tr><th>Agent</th><th>Name</th><th>Status</th><th>Skills</th><th>Endpoints"
        f"</th></tr>\n{body}\n</table></body></html>")
