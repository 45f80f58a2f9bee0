"""ubsp-v1 sealing and opening (pure): round trip, recipient checks, expiry, replay."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwe

from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.security.e2e import E2E_EXTENSION_URI, E2EContext, E2EError
from a2a_mqtt.security.keys import new_encryption_key


def pair() -> tuple[E2EContext, E2EContext]:
    alice = E2EContext(identity="o/u/alice", key=new_encryption_key())
    bob = E2EContext(identity="o/u/bob", key=new_encryption_key(), ttl=30)
    alice.learn("o/u/bob", bob.declare(echo_card()))
    bob.learn("o/u/alice", alice.declare(echo_card()))
    return alice, bob


def test_round_trip_and_header() -> None:
    alice, bob = pair()
    sealed = alice.seal("o/u/bob", b'{"jsonrpc":"2.0"}')
    header = jwe.extract_compact(sealed, registry=jwe.JWERegistry()).protected  # type: ignore[call-arg]
    assert header["alg"] == "ECDH-ES+A256KW" and header["enc"] == "A256GCM"
    assert header["kid"] == bob.kid
    opened = bob.open(sealed, claimed_sender="o/u/alice")
    assert opened.body == b'{"jsonrpc":"2.0"}' and opened.sender == "o/u/alice"


def test_card_declares_public_key_only() -> None:
    alice, _ = pair()
    card = alice.declare(echo_card())
    [ext] = [e for e in card.capabilities.extensions if e.uri == E2E_EXTENSION_URI]
    assert ext.required
    [key] = MessageToDict(ext.params)["keys"]
    assert key["kid"] == alice.kid and "d" not in key


def test_replay_is_flagged_and_expiry_refused() -> None:
    alice, bob = pair()
    sealed = alice.seal("o/u/bob", b"{}")
    bob.open(sealed)
    with pytest.raises(E2EError) as again:
        bob.open(sealed)
    assert again.value.replay
    alice.ttl = -60
    with pytest.raises(E2EError, match="expired"):
        bob.open(alice.seal("o/u/bob", b"{}"))


def test_recipient_and_sender_mismatch() -> None:
    alice, bob = pair()
    carol = E2EContext(identity="o/u/carol", key=new_encryption_key())
    with pytest.raises(E2EError, match="recipient mismatch"):
        carol.open(alice.seal("o/u/bob", b"{}"))
    # Bob's key, but addressed to another identity: aud is checked too.
    alice.trust("o/u/carol", bob.public_jwk())
    with pytest.raises(E2EError, match="addressed to another agent"):
        bob.open(alice.seal("o/u/carol", b"{}"))
    with pytest.raises(E2EError, match="claimed requester"):
        bob.open(alice.seal("o/u/bob", b"{}"), claimed_sender="o/u/mallory")


def test_no_key_no_seal() -> None:
    alice, _ = pair()
    with pytest.raises(E2EError, match="refusing to send plaintext"):
        alice.seal("o/u/nobody", b"{}")


_BOB = pair()[1]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.builds(
    b".".join, st.lists(st.binary(max_size=30), min_size=5, max_size=5)))
def test_open_refuses_hostile_payloads_with_e2e_error_only(payload: bytes) -> None:
    with pytest.raises(E2EError):
        _BOB.open(payload)



def test_p256_keys_work_too_and_the_recipient_key_decides_the_curve() -> None:
    alice = E2EContext(identity="o/u/alice", key=new_encryption_key())
    bob = E2EContext(identity="o/u/bob", key=new_encryption_key(curve="P-256"))
    assert alice.learn("o/u/bob", bob.declare(echo_card()))
    sealed = alice.seal("o/u/bob", b"{}")
    header = jwe.extract_compact(sealed, registry=jwe.JWERegistry()).protected  # type: ignore[call-arg]
    assert header["epk"]["crv"] == "P-256"
    assert bob.open(sealed).body == b"{}"


def test_unusable_keys_are_not_learned() -> None:
    alice = E2EContext(identity="o/u/alice", key=new_encryption_key())
    with pytest.raises(ValueError, match="X25519 or P-256"):
        alice.trust("o/u/x", {"kty": "EC", "crv": "P-384", "kid": "k", "x": "a", "y": "b"})
    with pytest.raises(ValueError, match="X25519 or P-256"):
        alice.trust("o/u/x", {"kty": "OKP", "crv": "X25519", "x": "abc"})  # no kid
    assert alice.peer_key("o/u/x") is None
