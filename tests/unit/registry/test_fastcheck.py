"""The compiled card check accepts exactly what jsonschema accepts (binding.card_problems)."""

from __future__ import annotations

import copy
import random
from typing import Any

import jsonschema
import pytest

from a2a_mqtt.binding.card_schema import agent_card_schema
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.registry.fastcheck import card_is_valid, compile_check
from a2a_mqtt.registry.validate import schema_problems
from tests.unit.registry.cards import card_dict

REF = AgentRef("acme", "plant", "inspector")
ODD_VALUES: list[Any] = [None, True, False, 0, 1, 1.0, 1.5, -3, "", "x", "1.0", [], [1],
                         ["a"], {}, {"a": 1}, {"url": "u"}, 2**70, float("inf")]


def rich_card() -> dict[str, Any]:
    data = card_dict(REF, skills=[
        {"id": "a", "name": "A", "description": "a", "tags": ["t"], "examples": ["e"],
         "input_modes": ["text/plain"], "output_modes": ["image/png"]},
        {"id": "b", "name": "B", "description": "b", "tags": ["u", "v"]}])
    data["provider"] = {"url": "https://acme.example", "organization": "Acme"}
    data["documentationUrl"] = "https://docs.example"
    data["iconUrl"] = "https://icon.example"
    data["securitySchemes"] = {
        "oauth": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {
            "tokenUrl": "https://t.example", "scopes": {"read": "read"}}}}},
        "key": {"apiKeySecurityScheme": {"location": "header", "name": "X-Key"}}}
    data["securityRequirements"] = [{"schemes": {"oauth": {"list": ["read"]}}}]
    data["signatures"] = [{"protected": "p", "signature": "s", "header": {"kid": "k"}}]
    data["capabilities"]["pushNotifications"] = False
    data["capabilities"]["extensions"].append(
        {"uri": "urn:x", "required": True, "params": {"a": [1, {"b": None}]}})
    return data


def _has_empty_tags(data: Any) -> bool:
    skills = data.get("skills") if isinstance(data, dict) else None
    return isinstance(skills, list) and any(
        isinstance(s, dict) and s.get("tags") == [] for s in skills)


def test_schema_problems_match_the_binding_and_survive_odd_skills() -> None:
    from a2a_mqtt.binding.card import card_problems

    data = card_dict(REF)
    del data["skills"][0]["tags"]
    data["extra"] = 1
    assert schema_problems(data) == card_problems(data)
    for odd in (1.5, True, 3):
        broken = {**card_dict(REF), "skills": odd}
        assert schema_problems(broken) and not card_is_valid(broken)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths(item, (*prefix, i))
    return out


def mutate(data: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """One random edit: replace a value, delete a key, add a key, or wrap/unwrap."""
    out = copy.deepcopy(data)
    path = rnd.choice(paths(out)[1:])
    parent: Any = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rnd.randrange(5)
    if action == 0:
        parent[last] = copy.deepcopy(rnd.choice(ODD_VALUES))
    elif action == 1 and isinstance(parent, dict):
        del parent[last]
    elif action == 2 and isinstance(parent[last], dict):
        parent[last][rnd.choice(["extra", "url", "tags", "id", "name", "uri"])] = \
            copy.deepcopy(rnd.choice(ODD_VALUES))
    elif action == 3:
        parent[last] = [parent[last]]
    elif isinstance(parent[last], list) and parent[last]:
        parent[last] = parent[last][0]
    else:
        parent[last] = str(parent[last])
    return out


def test_valid_cards_pass() -> None:
    assert card_is_valid(card_dict(REF))
    assert card_is_valid(rich_card())
    assert schema_problems(rich_card()) == []


def test_agrees_with_jsonschema_on_thousands_of_mutated_cards() -> None:
    rnd = random.Random(20261122)
    seeds = [card_dict(REF), rich_card()]
    verdicts = {True: 0, False: 0}
    for i in range(4000):
        data = mutate(seeds[i % 2], rnd)
        if rnd.random() < 0.3:
            data = mutate(data, rnd)
        expected = not schema_problems(data)
        assert expected is (jsonschema.Draft7Validator(agent_card_schema()).is_valid(data)
                            and not _has_empty_tags(data))
        assert card_is_valid(data) is expected, data
        verdicts[expected] += 1
    # The corpus exercises both outcomes substantially.
    assert verdicts[True] > 300 and verdicts[False] > 2000


@pytest.mark.parametrize("value", ODD_VALUES)
def test_scalar_types_match_draft7(value: Any) -> None:
    for type_name in ("string", "integer", "number", "boolean", "object", "array", "null",
                      ["integer", "string"], ["number", "string"]):
        schema = {"type": type_name}
        expected = jsonschema.Draft7Validator(schema).is_valid(value)
        assert compile_check(schema)(value) is expected, (type_name, value)


def test_object_keywords_only_constrain_objects() -> None:
    schema = {"properties": {"a": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False, "items": {"type": "string"}}
    for value in ([1], "x", 3, None, {"a": "x"}, {"a": 1}, {}, {"a": "x", "b": 1}, ["s"]):
        assert compile_check(schema)(value) is jsonschema.Draft7Validator(schema).is_valid(value)


def test_empty_tags_are_rejected_like_card_problems() -> None:
    data = card_dict(REF)
    data["skills"][0]["tags"] = []
    assert schema_problems(data) and not card_is_valid(data)


def test_unknown_keywords_refuse_to_compile() -> None:
    with pytest.raises(ValueError, match="not supported"):
        compile_check({"type": "string", "pattern": "^a"})
    with pytest.raises(ValueError, match="unsupported \\$ref"):
        compile_check({"$ref": "http://elsewhere/schema"})


def test_compiles_the_real_schema() -> None:
    check = compile_check(agent_card_schema())
    assert check(card_dict(REF))
    assert not check({"name": "x"})
