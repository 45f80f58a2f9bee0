"""``batchwrite.task_dict``: a durable reply's ProtoJSON built from its row's columns
equals ``MessageToDict`` of the task, key order included (pure logic)."""

from __future__ import annotations

import json

from a2a.types.a2a_pb2 import Artifact, Message, Part, Role, Task, TaskState
from google.protobuf.json_format import MessageToDict
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.server.batchwrite import task_columns, task_dict

_text = st.text(max_size=8)
_values = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), _text)
_parts = st.lists(_text.map(lambda t: Part(text=t)), max_size=2)


@st.composite
def tasks(draw: st.DrawFn) -> Task:
    task = Task(id=draw(_text), context_id=draw(_text))
    if draw(st.booleans()):  # status present (possibly empty), or absent
        task.status.state = draw(st.sampled_from(list(TaskState.values())))  # type: ignore[assignment]
        if draw(st.booleans()):
            task.status.timestamp.FromSeconds(draw(st.integers(0, 2**32)))
        if draw(st.booleans()):
            task.status.message.CopyFrom(Message(message_id=draw(_text), role=Role.ROLE_AGENT,
                                                 parts=draw(_parts)))
    for name in draw(st.lists(_text, max_size=2)):
        task.artifacts.append(Artifact(artifact_id=name, parts=draw(_parts)))
    for mid in draw(st.lists(_text, max_size=3)):
        task.history.append(Message(message_id=mid, role=Role.ROLE_USER, parts=draw(_parts)))
    meta = draw(st.one_of(st.none(), st.dictionaries(_text, _values, max_size=3)))
    if meta is not None:  # present: empty (``{}``) or with entries
        task.metadata.SetInParent()
        task.metadata.update(meta)
    return task


@given(tasks())
def test_task_dict_is_message_to_dict(task: Task) -> None:
    built = task_dict(task, task_columns(task, "owner"))
    assert built is not None
    expected = MessageToDict(task)
    assert built == expected
    # The same text too, keys in the same order (a Struct's own key order is its map's,
    # which is the same for one task object converted twice).
    assert list(built) == list(expected)
    assert json.dumps(built) == json.dumps(MessageToDict(task))


def test_task_dict_shares_the_rows_objects() -> None:
    task = Task(id="t", context_id="c")
    task.status.state = TaskState.TASK_STATE_COMPLETED
    task.history.append(Message(message_id="m", role=Role.ROLE_USER, parts=[Part(text="hi")]))
    columns = task_columns(task, "owner")
    built = task_dict(task, columns)
    assert built is not None
    assert built["status"] is columns["status"]
    assert built["history"] is columns["history"]
    assert "artifacts" not in built and "metadata" not in built


def test_an_empty_metadata_present_is_an_empty_object() -> None:
    task = Task(id="t")
    task.metadata.SetInParent()
    columns = task_columns(task, "owner")
    assert columns["metadata"] is None  # the row holds no metadata...
    assert task_dict(task, columns) == MessageToDict(task) == {"id": "t", "metadata": {}}
