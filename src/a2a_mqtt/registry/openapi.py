"""The OpenAPI 3.1 document of the registry's HTTP API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from a2a_mqtt._version import __version__
from a2a_mqtt.registry.query import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["openapi_document"]


def _param(name: str, description: str, *, schema: dict[str, Any] | None = None,
           repeat: bool = False, where: str = "query", required: bool = False
           ) -> dict[str, Any]:
    base = schema or {"type": "string"}
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": {"type": "array", "items": base} if repeat else base,
            **({"style": "form", "explode": True} if repeat else {})}


_FILTERS = [
    _param("org", "Only this org id."),
    _param("unit", "Only this unit id."),
    _param("agent", "Only this agent (or pool) id."),
    _param("kind", "Agents or pools.", schema={"enum": ["agent", "pool"]}),
    _param("status", "Presence from a2a-status.",
           schema={"enum": ["online", "offline", "unknown"]}),
    _param("skill", "Has a skill with this id (repeat: all of them).", repeat=True),
    _param("tag", "Has a skill with this tag, case-insensitive (repeat: all).", repeat=True),
    _param("input", "Accepts this media type (default or skill input mode); "
           "`type/*` matches a family (repeat: all).", repeat=True),
    _param("output", "Produces this media type; `type/*` matches a family.", repeat=True),
    _param("q", "Free text: every word must start a word of the name, description or skill "
           "texts (id, name, description, tags, examples)."),
    _param("name", "Case-insensitive substring of the card name (scans; prefer q)."),
    _param("changed_since", "Changed (as seen by this instance) at or after this time: "
           "epoch seconds or ISO 8601 with a zone."),
]
_PAGE = [
    _param("limit", f"Page size, 1..{MAX_LIMIT}.",
           schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                   "default": DEFAULT_LIMIT}),
    _param("cursor", "The `next` value of the previous page."),
]
_REF = _param("ref", "org/unit/agent, or org/unit/pool/POOL.", where="path", required=True)
_ERROR = {"description": "Error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "rejection": {"$ref": "#/components/schemas/Rejection"}}},
    "Observed": {"type": "object", "description": "This instance's own observations.",
                 "properties": {"seq": {"type": "integer"},
                                "changedAt": {"type": "string", "format": "date-time"},
                                "statusSince": {"type": "string", "format": "date-time"}}},
    "Entry": {"type": "object", "required": ["ref", "org", "unit", "kind", "status", "etag"],
              "properties": {
                  "ref": {"type": "string"}, "org": {"type": "string"},
                  "unit": {"type": "string"}, "agent": {"type": "string"},
                  "pool": {"type": "string"}, "kind": {"enum": ["agent", "pool"]},
                  "name": {"type": "string"},
                  "status": {"enum": ["online", "offline", "unknown"]},
                  "statusSource": {"type": "string"}, "authoritative": {"type": "boolean"},
                  "etag": {"type": "string", "description": "Hash of the retained state."},
                  "skills": {"type": "array", "items": {"type": "string"}},
                  "tags": {"type": "array", "items": {"type": "string"}},
                  "observed": {"$ref": "#/components/schemas/Observed"},
                  "card": {"type": "object", "description": "The A2A 1.0 AgentCard as retained."},
              }},
    "Page": {"type": "object", "required": ["total", "next", "eventId", "items"], "properties": {
        "total": {"type": "integer"}, "next": {"type": ["string", "null"]},
        "eventId": {"type": "string",
                    "description": "Pass as Last-Event-ID to /events to follow changes after "
                                   "this answer."},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Entry"}}}},
    "Rejection": {"type": "object", "properties": {
        "topic": {"type": "string"}, "ref": {"type": ["string", "null"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "size": {"type": "integer"}, "status": {"type": "string"},
        "statusSource": {"type": "string"}, "etag": {"type": "string"},
        "observed": {"type": "object"}}},
    "Rejections": {"type": "object", "properties": {
        "total": {"type": "integer"}, "next": {"type": ["string", "null"]},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Rejection"}}}},
    "Stats": {"type": "object"},
    "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
}


def openapi_document() -> dict[str, Any]:
    """The whole document; its paths are exactly the app's routes (a test holds them equal)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "a2a-mqtt registry", "version": __version__,
                 "description": "A broker-neutral index of the A2A Agent Cards retained on an "
                                "MQTT 5 broker. See docs/registry.md."},
        "paths": {
            "/agents": {"get": {
                "summary": "List agents matching every filter, ordered by reference.",
                "parameters": [*_FILTERS, *_PAGE, _param(
                    "card", "Include each card (default true).", schema={"type": "boolean"})],
                "responses": {"200": _json("Page"), "400": _ERROR}}},
            "/agents/{ref}": {
                "get": {"summary": "One agent's entry and card.", "parameters": [_REF],
                        "responses": {"200": _json("Entry"), "400": _ERROR, "404": _ERROR}},
                "put": {"summary": "Admin: retain a card on behalf of an agent.",
                        "security": _AUTH, "parameters": [_REF, _param(
                            "status", "Presence to publish (default online).",
                            schema={"enum": ["online", "offline"]})],
                        "requestBody": {"required": True, "content": {
                            "application/json": {"schema": {"type": "object"}}}},
                        "responses": {"200": _json("Entry"), "400": _ERROR, "401": _ERROR,
                                      "403": _ERROR, "413": _ERROR, "503": _ERROR}},
                "delete": {"summary": "Admin: clear an agent's retained card.",
                           "security": _AUTH, "parameters": [_REF],
                           "responses": {"204": {"description": "Deleted"}, "401": _ERROR,
                                         "403": _ERROR, "404": _ERROR, "503": _ERROR}}},
            "/cards/{ref}": {"get": {
                "summary": "The card exactly as retained (application/json).",
                "parameters": [_REF],
                "responses": {"200": {"description": "The AgentCard"}, "404": _ERROR}}},
            "/rejected": {"get": {
                "summary": "Topics whose latest card was refused, with the reasons.",
                "parameters": [_FILTERS[0], _FILTERS[1], *_PAGE],
                "responses": {"200": _json("Rejections"), "400": _ERROR}}},
            "/stats": {"get": {"summary": "Counts and ingest state.",
                               "responses": {"200": _json("Stats")}}},
            "/events": {"get": {
                "summary": "Server-Sent Events: added, updated, online, offline, removed, "
                           "rejected; then resync/overflow markers. Resume with Last-Event-ID.",
                "parameters": [*_FILTERS, _param(
                    "last_event_id", "Same as the Last-Event-ID header."), _param(
                    "Last-Event-ID", "Resume after this event id.", where="header")],
                "responses": {"200": {"description": "text/event-stream"}, "400": _ERROR}}},
            "/health": {"get": {"summary": "Liveness.", "responses": {"200": _json("Health")}}},
            "/ready": {"get": {"summary": "Connected and fully indexed.",
                               "responses": {"200": _json("Health"), "503": _json("Health")}}},
            "/openapi.json": {"get": {"summary": "This document.",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
        "components": {"schemas": _SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "The registry's admin token."}}},
    }
