"""The index page lists agents with links, escaping what cards say."""

from __future__ import annotations

from a2a.types.a2a_pb2 import AgentCard, AgentSkill

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.discovery import AgentEntry
from a2a_mqtt.gateway.index import index_html, index_json


def _entry(name: str, status: str = "online") -> AgentEntry:
    card = AgentCard(name=name, description="<b>bold</b>",
                     skills=[AgentSkill(id="s", name="Skill", tags=["t"])])
    return AgentEntry(ref=AgentRef("acme", "lab", "echo"), card=card, status=status,
                      status_source="agent")


def test_json_rows_have_links() -> None:
    row = index_json([_entry("Echo")], "http://gw")["agents"][0]
    assert row["card"] == "http://gw/acme/lab/echo/.well-known/agent-card.json"
    assert row["jsonrpc"] == "http://gw/acme/lab/echo"
    assert row["httpJson"] == "http://gw/acme/lab/echo/rest"
    assert row["skills"] == ["Skill"] and row["status"] == "online"


def test_html_escapes_card_text() -> None:
    page = index_html([_entry("<script>x</script>", "offline")], "http://gw")
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert 'class="offline"' in page and 'href="http://gw/acme/lab/echo"' in page
    assert "No agents known yet" in index_html([], "http://gw")
