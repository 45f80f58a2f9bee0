"""A call's reply state is bounded: a duplicate filter with a window, a capped buffer."""

from __future__ import annotations

import asyncio

import pytest
from a2a.client.errors import A2AClientError

from a2a_mqtt.client.replies import _DEDUP_WINDOW
from a2a_mqtt.client.replies import CallReplies as _Call
from a2a_mqtt.transport.base import IncomingMessage, PublishProperties


def msg(payload: bytes) -> IncomingMessage:
    return IncomingMessage(topic="$a2a/v1/reply/o/u/r/x", payload=payload, qos=1,
                           retain=False, properties=PublishProperties(correlation_data=b"c"))


def test_a_redelivered_reply_is_delivered_once() -> None:
    call = _Call(10)
    call.deliver(msg(b"one"))
    call.deliver(msg(b"one"))
    call.deliver(msg(b"two"))
    assert call.buffered == 2


def test_the_duplicate_filter_remembers_a_bounded_window() -> None:
    call = _Call(10 * _DEDUP_WINDOW)
    for i in range(5 * _DEDUP_WINDOW):
        call.deliver(msg(str(i).encode()))
    assert len(call._seen) == _DEDUP_WINDOW and len(call._order) == _DEDUP_WINDOW
    call.deliver(msg(b"0"))  # forgotten: older than the window
    call.deliver(msg(str(5 * _DEDUP_WINDOW - 1).encode()))  # still remembered
    assert call.buffered == 5 * _DEDUP_WINDOW + 1


@pytest.mark.asyncio
async def test_a_consumer_too_far_behind_fails_the_call_and_frees_the_buffer() -> None:
    call = _Call(3)
    for i in range(10):
        call.deliver(msg(str(i).encode()))
    assert call.overflowed and call.buffered == 0
    with pytest.raises(A2AClientError, match="more than 3 replies unread"):
        await call.next(1.0)


@pytest.mark.asyncio
async def test_next_times_out_when_nothing_arrives() -> None:
    with pytest.raises(TimeoutError):
        await _Call(3).next(0.01)
    call = _Call(3)
    asyncio.get_running_loop().call_later(0.01, call.deliver, msg(b"late"))
    assert (await call.next(1.0)).payload == b"late"
