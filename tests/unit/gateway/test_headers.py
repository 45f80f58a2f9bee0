"""Which HTTP headers become service parameters."""

from __future__ import annotations

from a2a.types.a2a_pb2 import AgentCard, APIKeySecurityScheme, SecurityScheme

from a2a_mqtt.gateway.headers import api_key_headers, service_parameters_from_headers


def test_standard_custom_and_extra_headers_pass_the_rest_does_not() -> None:
    headers = {
        "authorization": "Bearer x", "a2a-version": "1.0", "a2a-extensions": "urn:a",
        "a2a-trace": "t", "x-custom": "v", "x-forwarded-for": "1.2.3.4", "x-real-ip": "1.2.3.4",
        "cookie": "s", "host": "gw", "content-type": "application/json", "tenant-hint": "b",
        "version": "9", "extensions": "e",
    }
    assert service_parameters_from_headers(headers, extra=["Tenant-Hint"]) == {
        "Authorization": "Bearer x", "A2A-Version": "1.0", "A2A-Extensions": "urn:a",
        "a2a-trace": "t", "x-custom": "v", "tenant-hint": "b",
    }


def test_header_names_match_in_any_case_values_are_kept() -> None:
    assert service_parameters_from_headers({"AUTHORIZATION": "Bearer CaSe", "X-Y": "Z"}) == {
        "Authorization": "Bearer CaSe", "x-y": "Z"}


def test_api_key_headers_come_from_the_card() -> None:
    card = AgentCard()
    card.security_schemes["k"].CopyFrom(SecurityScheme(
        api_key_security_scheme=APIKeySecurityScheme(location="header", name="Api-Key")))
    card.security_schemes["q"].CopyFrom(SecurityScheme(
        api_key_security_scheme=APIKeySecurityScheme(location="query", name="key")))
    assert api_key_headers(card) == frozenset({"api-key"})
    assert api_key_headers(None) == frozenset()
