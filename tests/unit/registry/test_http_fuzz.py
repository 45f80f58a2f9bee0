"""HTTP API fuzz against a real uvicorn: schemathesis from ``/openapi.json`` and hypothesis
raw requests (no broker: the index is filled in process).

The app serves an index filled by a fixed churn (valid, invalid and unrepresentable
cards, replaced and cleared). Whatever is asked: no 5xx (``/ready`` is 503 by
contract here, there is no broker), and every 4xx is the standard error body
``{"error", "message"}``. The change feed is closed, so ``/events`` answers
``closing`` and ends instead of streaming forever (the live stream is fuzzed in
``test_sse_fuzz.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.registry.config import RegistryConfig
from a2a_mqtt.registry.http import create_app
from a2a_mqtt.registry.openapi import openapi_document
from a2a_mqtt.registry.query import PARAMETERS
from a2a_mqtt.registry.service import RegistryService
from tests.unit.registry.serve import (
    TOKEN,
    Uvicorn,
    churned_service,
    field_value_is_valid,
)

SERVICE = churned_service()
SERVICE.feed.close()
APP = create_app(SERVICE)
schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with Uvicorn(APP) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def assert_standard(response: Any, path: str) -> None:
    status = response.status_code
    if path == "/ready" and status == 503:
        return  # documented: not connected to any broker here
    assert status < 500, f"{status} for {path}: {response.text[:300]}"
    if status >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str)
    else:
        response.content.decode("utf-8")  # every answer encodes


@schema.parametrize()
@settings(derandomize=True, max_examples=25, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_openapi_operations(case: Any, base_url: str) -> None:
    response = case.call(base_url=base_url, timeout=10)
    assert_standard(response, case.path)


_text = st.text(st.characters(codec="utf-8"), max_size=30)
_names = st.one_of(st.sampled_from(sorted(PARAMETERS | {"last_event_id", "status"})), _text)
_pairs = st.lists(st.tuples(_names, st.one_of(_text, st.sampled_from(
    ["0", "1", "-1", "1001", "nan", "inf", "1e400", "true", "c1.", "c1.____", "c1.gA",
     "2026-01-31T12:00:00", "2026-01-31T12:00:00Z", "99999999999999999999", "image/*"]))),
    max_size=4)
_paths = st.sampled_from(["/agents", "/rejected", "/events", "/stats", "/health",
                          "/agents/", "/cards/", "/openapi.json", "/"])
_refs = st.one_of(st.just(""), _text, st.sampled_from(
    ["org0/unit0/t00000", "org0/unit4/pool/t00009", "a/b", "a/b/c/d/e", "a/b/pool/c",
     "%ff/%fe/x", "..", "a/b/c?x=1"]))


@settings(derandomize=True, max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(path=_paths, ref=_refs, pairs=_pairs,
       method=st.sampled_from(["GET", "GET", "PUT", "DELETE", "POST", "PATCH"]),
       auth=st.booleans(), last_event_id=st.one_of(st.none(), _text),
       body=st.one_of(st.binary(max_size=64),
                      st.sampled_from([b"{}", b"[]", b'{"name":"\\ud800"}'])))
def test_raw_requests(client: httpx.Client, path: str, ref: str, pairs: list[tuple[str, str]],
                      method: str, auth: bool, last_event_id: str | None,
                      body: bytes) -> None:
    url = path + (quote(ref, safe="/%") if path in ("/agents/", "/cards/") else "")
    query = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs)
    headers: dict[str, str | bytes] = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
    if last_event_id is not None:  # any bytes a header can carry (no CR, LF, NUL)
        headers["Last-Event-ID"] = last_event_id.encode().translate(None, b"\r\n\0").strip()
    response = client.request(method, f"{url}?{query}" if query else url,
                              headers=headers, content=body)
    if not all(field_value_is_valid(v) for v in headers.values() if isinstance(v, bytes)):
        assert response.status_code == 400  # refused by the HTTP parser: malformed request
        return
    if response.status_code == 503 and method in ("PUT", "DELETE"):
        # Valid admin calls reach the publisher, which has no broker here: documented 503.
        assert response.json()["error"] == "unavailable"
        return
    assert_standard(response, path)


@pytest.mark.parametrize("ref", sorted(SERVICE.index.entries))
def test_every_entry_renders(client: httpx.Client, ref: str) -> None:
    for path in (f"/agents/{ref}", f"/cards/{ref}"):
        response = client.get(path)
        assert response.status_code == 200
        json.loads(response.content)


def test_every_rejection_is_listed_with_reasons(client: httpx.Client) -> None:
    if True:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = client.get("/rejected", params={"limit": 7, **(
                {"cursor": cursor} if cursor else {})}).json()
            items += page["items"]
            cursor = page["next"]
            if cursor is None:
                break
        assert {i["topic"] for i in items} == set(SERVICE.index.rejected)
        assert all(i["reasons"] for i in items)
        for item in items:
            if item["ref"] is not None:
                got = client.get(f"/agents/{item['ref']}")
                assert got.status_code == 404 and got.json()["error"] == "rejected"


def test_an_unexpected_failure_is_a_500_without_exception_text() -> None:
    service = RegistryService(RegistryConfig(agent_ref=None))

    def broken() -> dict[str, Any]:
        raise RuntimeError("secret internals: password=hunter2")

    service.stats = broken  # type: ignore[method-assign]
    with Uvicorn(create_app(service)) as url:
        response = httpx.get(f"{url}/stats")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
