"""ubsp-v1 on the wire: the User Properties and the fail-closed rules of each side.

Request (requester -> agent): payload JWE, Content Type ``application/jose``,
``a2a-security-profile=ubsp-v1``, ``a2a-requester-agent-id``,
``a2a-recipient-agent-id``, ``a2a-recipient-kid``. Reply and stream items:
payload JWE, the profile, ``a2a-requester-agent-id`` and
``a2a-responder-agent-id``.

An agent that requires ubsp-v1 answers a plaintext request with -32005 and
processes nothing; so does any request it cannot open (recipient mismatch,
expired, wrong key). A replayed ``jti`` is dropped without an answer. Error
answers sent before a request was opened carry no data of the request, so
they go in plaintext; everything after is encrypted or not sent at all.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Protocol

from a2a_mqtt.binding.codes import BindingErrorKind, TransportProtocolError, binding_error_object
from a2a_mqtt.mqtt_types import IncomingMessage, PublishProperties
from a2a_mqtt.security.e2e import (
    CONTENT_TYPE_JOSE,
    PROFILE,
    RECIPIENT_AGENT_ID,
    RECIPIENT_KID,
    REQUESTER_AGENT_ID,
    SECURITY_PROFILE,
    E2EContext,
    E2EError,
)

__all__ = ["open_reply", "open_request", "seal_reply", "seal_request"]

log = logging.getLogger("a2a_mqtt.security")

_PEER_KEY_WAIT = 5.0


class _ReplyChannel(Protocol):
    e2e: tuple[E2EContext, str] | None

    async def error(self, rid: Any, error: dict[str, Any]) -> None: ...


async def open_request(ctx: E2EContext, msg: IncomingMessage, reply: _ReplyChannel
                       ) -> IncomingMessage | None:
    """The request with its plaintext payload, or None when it was refused (and answered)."""
    props = msg.properties
    if (props.user_property(SECURITY_PROFILE) or "").strip().lower() != PROFILE:
        if not ctx.required:
            return msg
        await _refuse(reply, "this agent requires ubsp-v1 end-to-end encryption: "
                             "plaintext requests are refused")
        return None
    requester = props.user_property(REQUESTER_AGENT_ID)
    recipient = props.user_property(RECIPIENT_AGENT_ID)
    if not requester:
        await _refuse(reply, f"ubsp-v1 request without {REQUESTER_AGENT_ID}")
        return None
    if recipient != ctx.identity:
        await _refuse(reply, "recipient mismatch: the request names another recipient agent")
        return None
    kid = props.user_property(RECIPIENT_KID)
    if kid is not None and kid != ctx.kid:
        await _refuse(reply, "recipient mismatch: the request names another key")
        return None
    try:
        opened = ctx.open(msg.payload, claimed_sender=requester)
    except E2EError as exc:
        if exc.replay:
            log.warning("ubsp-v1 request on %s dropped: %s", msg.topic, exc.reason)
            return None
        await _refuse(reply, exc.reason)
        return None
    reply.e2e = (ctx, opened.sender)
    return dataclasses.replace(msg, payload=opened.body)


async def _refuse(reply: _ReplyChannel, text: str) -> None:
    log.info("ubsp-v1 request refused: %s", text)
    await reply.error(None, binding_error_object(BindingErrorKind.TRANSPORT_PROTOCOL_ERROR,
                                                 text))


async def seal_reply(ctx: E2EContext, requester: str, payload: bytes,
                     props: PublishProperties) -> tuple[bytes, PublishProperties] | None:
    """The reply encrypted to ``requester``; None (logged) when its key cannot be found."""
    if ctx.peer_key(requester) is None:
        await ctx.wait_for_peer(requester, _PEER_KEY_WAIT)
    try:
        sealed = ctx.seal(requester, payload)
    except E2EError as exc:
        log.warning("reply to %s not sent: %s", requester, exc.reason)
        return None
    extra = ((SECURITY_PROFILE, PROFILE), (REQUESTER_AGENT_ID, requester))
    return sealed, dataclasses.replace(props, content_type=CONTENT_TYPE_JOSE,
                                       user_properties=props.user_properties + extra)


def seal_request(ctx: E2EContext, recipient: str, payload: bytes
                 ) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """A request payload for ``recipient`` and the properties to add; E2EError without a key."""
    sealed = ctx.seal(recipient, payload)
    return sealed, ((SECURITY_PROFILE, PROFILE), (REQUESTER_AGENT_ID, ctx.identity),
                    (RECIPIENT_AGENT_ID, recipient), (RECIPIENT_KID, ctx.recipient_kid(recipient)))


def open_reply(ctx: E2EContext, msg: IncomingMessage, sender: str) -> bytes:
    """A reply's plaintext. Plaintext is accepted only for binding errors, which an agent
    sends before it could open a request; anything else unencrypted is refused."""
    props = msg.properties
    if (props.user_property(SECURITY_PROFILE) or "").strip().lower() != PROFILE:
        if b'"a2a_error"' in msg.payload and b'"result"' not in msg.payload:
            return msg.payload
        raise TransportProtocolError(f"plaintext reply on {msg.topic} refused (ubsp-v1)")
    try:
        opened = ctx.open(msg.payload)
    except E2EError as exc:
        raise TransportProtocolError(f"ubsp-v1 reply refused: {exc.reason}") from None
    if opened.sender != sender:
        raise TransportProtocolError("ubsp-v1 reply from an unexpected responder")
    return opened.body

