"""What ``send`` builds from TEXT, --data and --file; how failures and progress read."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import click
import pytest
from a2a.types.a2a_pb2 import TaskState
from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.cli.common import Settings, one_line
from a2a_mqtt.cli.connection import Connection
from a2a_mqtt.cli.follow import Progress, progress_line
from a2a_mqtt.cli.send_cmds import build_parts, check_outcome
from a2a_mqtt.errors import ConfigError

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(_json)
def test_a_data_part_carries_any_json(value: Any) -> None:
    (part,) = build_parts(None, (json.dumps(value),), ())
    assert MessageToDict(part)["data"] == value


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_bad_data_is_a_usage_error_never_a_crash(raw: str) -> None:
    try:
        json.loads(raw)
    except ValueError:
        with pytest.raises(click.BadParameter):
            build_parts("x", (raw,), ())
    else:
        assert len(build_parts("x", (raw,), ())) == 2


def test_parts_in_order_and_a_file_with_its_type(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_bytes(b"{}")
    text, data, raw = build_parts("hi", ("[1]",), (f,))
    assert text.text == "hi" and MessageToDict(data)["data"] == [1]
    assert raw.raw == b"{}" and raw.filename == "a.json" and raw.media_type == "application/json"
    with pytest.raises(click.UsageError):
        build_parts(None, (), ())


def test_one_line_errors() -> None:
    assert one_line(ConfigError("bad\nsecond line")) == "ConfigError: bad"
    assert one_line(TimeoutError()) == "TimeoutError: TimeoutError"


def test_progress_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True
    piped, tty = io.StringIO(), Tty()
    for out in (Progress(piped), Progress(tty)):
        out.show(progress_line("WORKING", 12.4, 2))
        out.clear()
    assert piped.getvalue() == ""
    assert "WORKING: 2 event(s), silent for 12s" in tty.getvalue()
    assert tty.getvalue().endswith("\r\x1b[2K")


def test_cli_streams_have_no_idle_death() -> None:
    # The requester's own idle limit (30 s by default) would end a silent stream while
    # its agent still works: the CLI lifts it, and cli/follow.py watches presence instead.
    config = Settings(Connection(broker="mqtt://127.0.0.1:1"), 10.0, False).requester()
    assert config.stream_idle_timeout > 30 * 24 * 3600
    assert config.reply_first_timeout == 10.0  # --timeout bounds the first reply only


@pytest.mark.parametrize(("state", "fails"), [
    (TaskState.TASK_STATE_COMPLETED, False), (TaskState.TASK_STATE_INPUT_REQUIRED, False),
    (TaskState.TASK_STATE_AUTH_REQUIRED, False), (TaskState.TASK_STATE_UNSPECIFIED, False),
    (TaskState.TASK_STATE_FAILED, True), (TaskState.TASK_STATE_CANCELED, True),
    (TaskState.TASK_STATE_REJECTED, True)])
def test_only_unsuccessful_ends_exit_non_zero(state: int, fails: bool) -> None:
    if not fails:
        check_outcome("t-1", state)
        return
    with pytest.raises(click.ClickException) as raised:
        check_outcome("t-1", state)
    name = TaskState.Name(state).removeprefix("TASK_STATE_")
    assert raised.value.exit_code == 1 and raised.value.message == f"task t-1 ended {name}"
