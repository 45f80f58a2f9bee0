"""The official SDK's seams this package relies on (mcp 2.3), pinned by test."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import mcp
from mcp.server import Server
from mcp.server.runner import serve_dual_era_loop

from a2a_mqtt.mcp.example_server import build_example_server
from a2a_mqtt.mcp.runners import lowlevel_server


def test_import_mcp_is_the_official_sdk() -> None:
    assert Path(mcp.__file__).parent.name == "mcp"
    assert "site-packages" in mcp.__file__ or "dist-packages" in mcp.__file__


def test_no_module_of_ours_is_named_mcp() -> None:
    package = Path(importlib.import_module("a2a_mqtt.mcp").__file__ or "").parent
    assert not (package / "mcp.py").exists()
    assert not (package / "mcp").exists()


def test_serve_dual_era_loop_has_the_signature_we_call() -> None:
    params = inspect.signature(serve_dual_era_loop).parameters
    assert {"server", "read_stream", "write_stream", "lifespan_state", "session_id",
            "init_options"} <= set(params)


def test_mcpserver_lowlevel_server_is_reached_through_the_session_manager() -> None:
    app = build_example_server()
    server = lowlevel_server(app)
    assert isinstance(server, Server)
    assert server.name == app.name
    assert lowlevel_server(app) is server  # a second call reuses the manager
    assert lowlevel_server(server) is server
