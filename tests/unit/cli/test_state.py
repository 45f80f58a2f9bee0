"""The broker state file: written while a broker runs, ignored when stale, removed after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from a2a_mqtt.access.credentials import Credentials
from a2a_mqtt.cli.connection import DEFAULT_BROKER, resolve_connection
from a2a_mqtt.cli.state import announce_broker, broker_state_file, read_broker_url


def test_the_file_lives_in_the_runtime_dir(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert broker_state_file() == tmp_path / "a2a-mqtt" / "broker"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert broker_state_file().name == "broker"
    assert broker_state_file().parent.name == f"a2a-mqtt-{os.getuid()}"


def test_announced_while_running_and_removed_after(tmp_path: Path) -> None:
    path = tmp_path / "rt" / "broker"
    assert read_broker_url(path) is None
    with announce_broker("mqtt://127.0.0.1:4242", path):
        assert read_broker_url(path) == "mqtt://127.0.0.1:4242"
        assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not path.exists() and read_broker_url(path) is None


def test_a_newer_broker_keeps_its_file(tmp_path: Path) -> None:
    path = tmp_path / "broker"
    with announce_broker("mqtt://127.0.0.1:1111", path):
        path.write_text(f"mqtt://127.0.0.1:2222\n{os.getpid()}\n")
    assert read_broker_url(path) == "mqtt://127.0.0.1:2222"


def test_a_dead_writer_or_garbage_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "broker"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path.write_text(f"mqtt://127.0.0.1:3333\n{done.stdout.strip()}\n")
    assert read_broker_url(path) is None  # the pid has exited
    for junk in ("", "mqtt://x\n", "mqtt://x\nnot-a-pid\n", "\n1\n"):
        path.write_text(junk)
        assert read_broker_url(path) is None
    path.write_bytes(b"\xff\xfe")
    assert read_broker_url(path) is None


def test_connection_precedence_with_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "broker"
    profiles = tmp_path / "profiles.toml"
    bare = resolve_connection(Credentials(), profile=None, profiles_file=profiles,
                              state_file=state)
    assert bare.broker == DEFAULT_BROKER and "a2a-mqtt broker" in bare.broker_source
    with announce_broker("mqtt://127.0.0.1:5555", state):
        found = resolve_connection(Credentials(), profile=None, profiles_file=profiles,
                                   state_file=state)
        assert found.broker == "mqtt://127.0.0.1:5555" and not found.explicit_broker
        assert str(state) in found.describe_broker()
        given = resolve_connection(Credentials(broker="mqtt://h:1"), profile=None,
                                   profiles_file=profiles, state_file=state)
        assert given.broker == "mqtt://h:1" and given.broker_source == "given"


def test_a_profile_carries_the_registry_url(tmp_path: Path) -> None:
    from a2a_mqtt.access.credentials import save_profile

    profiles = tmp_path / "profiles.toml"
    save_profile("p", Credentials(broker="mqtt://h:1", registry="http://r:8700"), profiles)
    conn = resolve_connection(Credentials(), profile="p", profiles_file=profiles,
                              state_file=tmp_path / "none")
    assert (conn.broker, conn.registry) == ("mqtt://h:1", "http://r:8700")
    assert conn.broker_source == "profile p"
