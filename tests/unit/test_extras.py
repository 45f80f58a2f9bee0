"""A missing optional library becomes one error naming the extra to install."""

from __future__ import annotations

import pytest

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.extras import EXTRA_OF, MissingExtraError, missing_extra


@pytest.mark.parametrize(("module", "extras"), sorted(EXTRA_OF.items()))
def test_each_optional_library_names_its_extras(module: str, extras: tuple[str, ...]) -> None:
    error = missing_extra(ModuleNotFoundError(f"No module named {module!r}",
                                              name=f"{module}.sub"))
    assert isinstance(error, MissingExtraError)
    assert isinstance(error, ImportError) and isinstance(error, ConfigError)
    assert error.module == module and error.extras == extras
    text = str(error)
    assert "\n" not in text
    assert all(f"a2a-mqtt[{extra}]" in text for extra in extras)


def test_the_feature_extra_wins_when_given() -> None:
    error = missing_extra(ModuleNotFoundError("x", name="sqlalchemy"), extra="gateway")
    assert error is not None and error.extras == ("gateway",)
    assert "pip install 'a2a-mqtt[gateway]'" in str(error)


@pytest.mark.parametrize("name", [None, "", "json", "a2a", "paho.mqtt"])
def test_a_core_or_unknown_module_is_not_an_extra(name: str | None) -> None:
    assert missing_extra(ModuleNotFoundError("x", name=name)) is None
