"""Replies of one call: the correlated queue and the decoding of each reply.

A reply is JSON-RPC (docs/binding.md §6) or, when the call asked for it, binary
protobuf (§3.4), told apart by its Content Type. Error replies raise the a2a-sdk
error they map to (§7); a binary request refused as unreadable (-32700) raises
:class:`BinaryRefused`, which the requester answers with a JSON retry.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any, Final

from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import StreamResponse
from google.protobuf.json_format import MessageToDict

from a2a_mqtt._deadlines import DeadlineExpired, FutureDeadlines
from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding import protobin
from a2a_mqtt.binding.codes import (
    ResponderUnavailableError,
    TransportProtocolError,
    error_from_object,
)
from a2a_mqtt.binding.envelope import PARSE_ERROR, parse_response
from a2a_mqtt.binding.stream import is_final_result
from a2a_mqtt.client.retry import RETRY_AFTER, OverloadedError, parse_retry_after
from a2a_mqtt.errors import RemoteProtocolError
from a2a_mqtt.mqtt_types import IncomingMessage

__all__ = ["BinaryRefused", "CallReplies", "Reply", "decode_reply"]

_DEDUP_WINDOW: Final = 256


class BinaryRefused(Exception):
    """A binary request answered -32700 (a peer that reads JSON only): retry in JSON."""

    def __init__(self, error: Exception, *, legacy: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.legacy = legacy
        """The refusing reply did not say it reads binary: a peer that predates it."""


class Reply:
    """One correlated reply: its JSON-RPC result and whether it ends the stream.

    ``result`` is the ProtoJSON value of a JSON reply, or the protobuf message of a
    binary one (docs/binding.md §3.4; only for calls made with a message). The empty
    end-of-stream item is ``{}`` in both encodings."""

    __slots__ = ("end", "responder", "result")

    def __init__(self, result: Any, end: bool, responder: str | None) -> None:
        self.result = result
        self.end = end
        self.responder = responder


class CallReplies:
    """Replies for one call, across all of its attempts' Correlation Data.

    Bounded: at most ``limit`` unread replies (past that the call fails rather
    than grow) and a duplicate filter over the last :data:`_DEDUP_WINDOW` replies.
    A reader waits on a future of its own, failed by the requester's shared
    :class:`FutureDeadlines` when its timeout passes (one loop timer for every
    call instead of an ``asyncio.timeout`` each: issue #16, Round 4b).
    """

    __slots__ = ("_deadlines", "_limit", "_order", "_queue", "_seen", "_waiter", "overflowed")

    def __init__(self, limit: int, deadlines: FutureDeadlines) -> None:
        self._queue: collections.deque[IncomingMessage] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._deadlines = deadlines
        self._seen: set[bytes] = set()
        self._order: collections.deque[bytes] = collections.deque()
        self._limit = limit
        self.overflowed = False

    def deliver(self, msg: IncomingMessage) -> None:
        if self.overflowed:
            return
        # A QoS 1 redelivery repeats the reply byte for byte; so does the answer
        # to a retry's Correlation Data, which must not count as a second answer.
        key = hashlib.blake2b(msg.payload, digest_size=16).digest()
        if key in self._seen:
            return
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > _DEDUP_WINDOW:
            self._seen.discard(self._order.popleft())
        if len(self._queue) >= self._limit:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append(msg)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self, timeout: float) -> IncomingMessage:
        """The next reply; ``TimeoutError`` when none came within ``timeout`` seconds."""
        while not self._queue:
            if self.overflowed:
                raise A2AClientError(f"more than {self._limit} replies unread; the call "
                                     "is abandoned (resume with SubscribeToTask)")
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            self._deadlines.watch(waiter, loop.time() + timeout)
            try:
                await waiter
            except DeadlineExpired:
                raise TimeoutError from None
            finally:
                self._waiter = None
                self._deadlines.forget(waiter)
        return self._queue.popleft()

    @property
    def buffered(self) -> int:
        return len(self._queue)


def decode_reply(msg: IncomingMessage, unary: bool, pooled: bool, method: str, *,
            accept: bool, binary: bool = False) -> Reply:
    """One reply as a :class:`Reply`, or the error it carries raised.

    ``accept``: the call asked for binary replies (so takes messages);
    ``binary``: the request went out in binary (a -32700 then means a peer that
    could not read it: :class:`BinaryRefused`)."""
    props = msg.properties
    responder = props.user_property(P.RESPONDER_AGENT_ID)
    if pooled and not responder:
        # The profile: a pooled reply MUST name its responder; without it we could
        # not follow the task, so the reply is a protocol error.
        raise TransportProtocolError(
            f"pooled reply on {msg.topic} has no {P.RESPONDER_AGENT_ID} property")
    marker = props.user_property(P.STREAM_END)
    if protobin.is_protobuf(props.content_type):
        try:
            message = protobin.decode_result(method, msg.payload)
        except RemoteProtocolError as exc:
            raise A2AClientError(f"malformed reply on {msg.topic}: {exc}") from exc
        if isinstance(message, StreamResponse):
            if message.WhichOneof("payload") is None:
                return Reply({}, unary or marker != "false", responder)  # the end item
            final = protobin.item_ends(message)
        else:
            final = True
        end = unary or (marker == "true" if marker is not None else final)
        # A binary reply nobody asked for (a JSON call) is handed on as ProtoJSON.
        return Reply(message if accept else MessageToDict(message), end, responder)
    try:
        response = parse_response(msg.payload)
    except RemoteProtocolError as exc:
        raise A2AClientError(f"malformed reply on {msg.topic}: {exc}") from exc
    if response.error is not None:
        error = error_from_object(response.error)
        if binary and response.error.get("code") == PARSE_ERROR:
            raise BinaryRefused(error, legacy=not protobin.accepts(
                props.user_property(P.ACCEPT)))
        hint = parse_retry_after(props.user_property(RETRY_AFTER))
        if isinstance(error, ResponderUnavailableError) and hint is not None:
            raise OverloadedError(error.message, error.data, retry_after=hint)
        raise error
    end = unary or (marker == "true" if marker is not None
                    else is_final_result(response.result))
    return Reply(response.result, end, responder)
