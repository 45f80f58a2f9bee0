"""Card signing follows A2A 1.0: JWS over the RFC 8785 card, signatures excluded,
alg and kid in the protected header; verification under trusted keys (pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey

from a2a_mqtt.binding.card import card_to_dict
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.security.cards import CardPolicy, CardSigner, canonical_card, sign_card_data
from a2a_mqtt.security.keys import new_signing_key


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _public(key: ECKey) -> ECKey:
    return ECKey.import_key(key.as_dict(private=False))


def test_signature_is_a_detached_jws_over_the_rfc8785_card_without_signatures() -> None:
    key = new_signing_key()
    data = card_to_dict(echo_card())
    data["signatures"] = [{"protected": "e30", "signature": "stale"}]  # replaced, never signed
    signed = sign_card_data(data, key, jku="https://keys.example/jwks.json")
    [sig] = signed["signatures"]
    header = json.loads(_b64(sig["protected"]))
    assert header == {"alg": "ES256", "kid": key.kid, "jku": "https://keys.example/jwks.json"}
    assert set(sig) == {"protected", "signature"}  # payload detached
    expected = rfc8785.dumps({k: v for k, v in data.items() if k != "signatures"})
    assert canonical_card(signed) == expected
    # The JWS verifies over exactly that content (decoded with joserfc, not by us).
    flat = {"payload": base64.urlsafe_b64encode(expected).rstrip(b"=").decode(),
            "protected": sig["protected"], "signature": sig["signature"]}
    verified = jws.deserialize_json(flat, _public(key), algorithms=["ES256"])  # type: ignore[arg-type]
    assert verified.payload == expected
    assert verified.headers()["alg"] == "ES256" and verified.headers()["kid"] == key.kid


def test_canonical_form_ignores_key_order_and_whitespace() -> None:
    a = {"name": "x", "skills": [{"id": "s", "tags": ["t"]}], "version": "1"}
    b = json.loads(json.dumps({"version": "1", "skills": [{"tags": ["t"], "id": "s"}],
                               "name": "x"}, indent=3))
    assert canonical_card(a) == canonical_card(b)


def test_policy_verifies_and_names_each_failure() -> None:
    key, other = new_signing_key(), new_signing_key()
    signed = card_to_dict(CardSigner(key=key).sign(echo_card()))
    trusting = CardPolicy(mode="require", trusted_keys=[_public(key)])
    assert trusting.check(signed).verified
    assert trusting.check(signed).kid == key.kid
    tampered = json.loads(json.dumps(signed))
    tampered["description"] = "something else"
    assert "does not verify" in trusting.check(tampered).reasons[0]
    assert "not trusted" in CardPolicy(mode="require", trusted_keys=[_public(other)]).check(
        signed).reasons[0]
    unsigned = {k: v for k, v in signed.items() if k != "signatures"}
    assert trusting.check(unsigned).reasons == ("card is not signed",)
    untrusted_jku = sign_card_data(unsigned, other, jku="https://evil.example/jwks.json")
    assert "not under a trusted prefix" in trusting.check(untrusted_jku).reasons[0]


def test_rotation_old_and_new_keys_both_verify_while_trusted() -> None:
    old, new = new_signing_key(), new_signing_key()
    policy = CardPolicy(mode="require", trusted_keys=[_public(old), _public(new)])
    for key in (old, new):
        assert policy.check(card_to_dict(CardSigner(key=key).sign(echo_card()))).kid == key.kid


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "signatures", "x"]), _json, max_size=3)
       | _json)
def test_check_never_raises_on_hostile_json(data: Any) -> None:
    policy = CardPolicy(mode="require", trusted_keys=[_public(_KEY)])
    check = policy.check(data)
    assert not check.verified and check.reasons


_KEY = new_signing_key()


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_check_never_raises_on_hostile_signature_entries(protected: str, signature: str) -> None:
    data = card_to_dict(echo_card())
    data["signatures"] = [{"protected": protected, "signature": signature}]
    assert not CardPolicy(mode="require", trusted_keys=[_public(_KEY)]).check(data).verified
