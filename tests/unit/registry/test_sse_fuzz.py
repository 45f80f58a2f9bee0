"""The SSE change feed (``GET /events``) fuzzed against a real uvicorn, and its memory bound.

The served feed holds a fixed churn's changes (valid, rejected, removed, with
unrepresentable cards among them). For any filters and any ``Last-Event-ID``:
a 4xx with the standard error body, or a stream whose events are well framed,
numbered in order, valid JSON, and each one a change the filters match. A
stream is read until its first ``: ping`` (the replay from the ring is queued
ahead of it, so by then everything owed has been sent).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.registry.entry import Change
from a2a_mqtt.registry.http import create_app
from a2a_mqtt.registry.query import Query
from tests.unit.registry.serve import Uvicorn, churned_service, field_value_is_valid

QUEUE = 1000
SERVICE = churned_service(steps=300, seed=5, heartbeat=0.2, feed_queue_size=QUEUE)
assert len(SERVICE.feed._ring) < QUEUE
CHANGES: list[Change] = list(SERVICE.feed._ring)
EPOCH = SERVICE.feed.epoch
SERVER = Uvicorn(create_app(SERVICE))


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with SERVER as url, httpx.Client(base_url=url, timeout=10) as http:
        yield http


def read_stream(client: httpx.Client, url: str, headers: dict[str, Any]
                ) -> tuple[int, list[dict[str, str]] | dict[str, Any]]:
    """(status, frames until the first ping or the end) or (status, error body)."""
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, response.json()
        frames: list[dict[str, str]] = []
        frame: dict[str, str] = {}
        for line in response.iter_lines():
            if line == ": ping":
                break
            if not line:
                if frame:
                    frames.append(frame)
                    if frame.get("event") in ("overflow", "closing"):
                        break
                frame = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                frame[name] = value
        return 200, frames


_filter_values = st.one_of(st.sampled_from(
    ["org0", "org1", "unit3", "t00004", "agent", "pool", "online", "offline", "unknown",
     "work", "vision", "inspect", "text/plain", "image/*", "robot", "0", "9e99", "nan",
     "2026-01-01T00:00:00Z", "not valid!"]), st.text(max_size=12))
_names = st.sampled_from(["org", "unit", "agent", "kind", "status", "skill", "tag", "input",
                          "output", "q", "name", "changed_since", "limit", "cursor", "x"])
_resume = st.one_of(st.none(), st.sampled_from(
    [f"{EPOCH}-0", f"{EPOCH}-{len(CHANGES) // 2}", f"{EPOCH}-{CHANGES[-1].seq}",
     f"{EPOCH}-{CHANGES[-1].seq + 5}", "other-3", "-1", "", f"{EPOCH}-"]), st.text(max_size=20))


@settings(derandomize=True, max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(pairs=st.lists(st.tuples(_names, _filter_values), max_size=3), resume=_resume,
       in_query=st.booleans())
def test_any_stream_request(client: httpx.Client, pairs: list[tuple[str, str]],
                            resume: str | None, in_query: bool) -> None:
    query = [(n, v) for n, v in pairs]
    headers: dict[str, Any] = {}
    if resume is not None:
        if in_query:
            query.append(("last_event_id", resume))
        else:
            headers["Last-Event-ID"] = resume.encode().translate(None, b"\r\n\0").strip()
    url = "/events?" + "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in query)
    if not field_value_is_valid(headers.get("Last-Event-ID", b"")):
        with client.stream("GET", url, headers=headers) as refused:
            assert refused.status_code == 400  # refused by the HTTP parser: malformed
        return
    status, answer = read_stream(client, url, headers)
    if status != 200:
        assert 400 <= status < 500 and isinstance(answer, dict)
        assert isinstance(answer["error"], str) and isinstance(answer["message"], str)
        return
    assert isinstance(answer, list)
    filters = [(n, v) for n, v in pairs]
    matcher = Query.from_params(filters).matches_change if filters else None
    by_seq = {c.seq: c for c in CHANGES}
    seqs = []
    for frame in answer:
        data = json.loads(frame["data"])
        if "id" not in frame:  # a marker
            assert frame["event"] in ("resync", "overflow")
            continue
        epoch, _, seq = frame["id"].rpartition("-")
        assert epoch == EPOCH and data["seq"] == int(seq) and data["kind"] == frame["event"]
        change = by_seq[int(seq)]
        assert matcher is None or matcher(change)
        seqs.append(int(seq))
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_every_change_replays_from_the_ring(client: httpx.Client) -> None:
    """Every change of the churn -- rejections of unrepresentable cards included -- renders."""
    status, frames = read_stream(client, "/events", {"Last-Event-ID": f"{EPOCH}-0"})
    assert status == 200 and isinstance(frames, list)
    assert [int(f["id"].rpartition("-")[2]) for f in frames] == [c.seq for c in CHANGES]
    assert {"added", "rejected", "removed"} <= {c.kind for c in CHANGES}


def test_a_backlog_longer_than_the_queue_is_resync_not_a_retry_loop() -> None:
    """Replaying more than one queue would overflow at once, and the reader would come back
    with the same id forever: it gets resync (re-list, then follow)."""
    service = churned_service(steps=300, seed=5, feed_queue_size=50)
    sub = service.feed.subscribe(after=0)
    assert sub._queue == deque(["resync"])
    last = service.feed.seq
    assert len(service.feed.subscribe(after=last - 50)._queue) == 50


def test_a_reader_that_does_not_read_costs_bounded_memory(client: httpx.Client) -> None:
    """A connected client that stops reading is dropped with overflow once it lags
    ``feed_queue_size`` changes; the feed keeps no queue for it afterwards."""
    with client.stream("GET", "/events") as response:
        lines = response.iter_lines()
        assert next(lines) == ": connected"
        assert SERVICE.feed.subscribers == 1
        burst = [CHANGES[-1]._replace(seq=CHANGES[-1].seq + 1 + i) for i in range(3 * QUEUE)]
        done = SERVER.loop.call_soon_threadsafe
        done(SERVICE.feed.publish, burst)  # one batch on the server's loop: no read between
        events = []
        for line in lines:
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
                if events[-1] == "overflow":
                    break
        assert events.count("overflow") == 1
        assert len(events) <= QUEUE + 1  # at most the queue, then the marker
    assert SERVICE.feed.subscribers == 0
