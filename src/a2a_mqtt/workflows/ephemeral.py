"""Ephemeral workers (docs/workflows.md §9): a process spawned for one step attempt.

A step with ``runner: ephemeral`` and ``agent: module:factory`` is not sent to a
running agent. The runner asks a :class:`Launcher` for a worker that serves the
agent ``module:factory`` builds, under a reference unique to the attempt; it calls
the worker like any agent, and the worker exits once the task is finished
(``a2a_mqtt.workflows.worker``). The worker's MQTT session carries the agent's
Last Will (its card, ``a2a-status=offline``, ``a2a-status-source=lwt``): when the
process dies, the broker publishes it and the runner fails the attempt, so the
step's retry policy applies.

The launcher is the seam for other ways to start a process (a container, a
remote host): anything with ``async launch(spec) -> WorkerHandle``. The
:class:`SubprocessLauncher` starts ``python -m a2a_mqtt.workflows.worker``.
Credentials go to the worker in its environment, never on its command line
(which every local user can read).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from a2a.server.agent_execution import AgentExecutor
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.mqtt_types import BrokerURL
from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

__all__ = [
    "PASSWORD_ENV",
    "USERNAME_ENV",
    "Launcher",
    "SubprocessLauncher",
    "SubprocessWorker",
    "WorkerAgent",
    "WorkerHandle",
    "WorkerSpec",
    "load_agent",
]

USERNAME_ENV = "A2A_MQTT_WORKER_USERNAME"
PASSWORD_ENV = "A2A_MQTT_WORKER_PASSWORD"  # noqa: S105 - the variable's name, not a secret
_STDERR_LINES = 20


@dataclass(frozen=True, slots=True)
class WorkerAgent:
    """What a ``module:factory`` returns: the card the worker publishes and its executor."""

    card: AgentCard
    executor: AgentExecutor


def load_agent(spec: str) -> WorkerAgent:
    """Import ``module:factory`` and build the agent; ConfigError says what went wrong.

    ``factory`` is a callable returning a :class:`WorkerAgent` or a ``(card, executor)``
    pair, or an object with ``card()`` and ``executor()`` (a bundled ``Example``).
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{spec!r} is not module:factory")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {spec}: {type(exc).__name__}: {exc}") from None
    card_of, executor_of = getattr(target, "card", None), getattr(target, "executor", None)
    if callable(card_of) and callable(executor_of):
        made: Any = target
    elif callable(target):
        try:
            made = target()
        except Exception as exc:  # the user's factory: any failure is a refused spec
            raise ConfigError(f"{spec} failed: {type(exc).__name__}: {exc}") from None
    else:
        made = None
    if isinstance(made, WorkerAgent):
        return made
    if isinstance(made, tuple) and len(made) == 2:
        made = WorkerAgent(card=made[0], executor=made[1])
    elif callable(getattr(made, "card", None)) and callable(getattr(made, "executor", None)):
        made = WorkerAgent(card=made.card(), executor=made.executor())
    if not (isinstance(made, WorkerAgent) and isinstance(made.card, AgentCard)
            and isinstance(made.executor, AgentExecutor)):
        raise ConfigError(f"{spec} did not build an agent: return WorkerAgent(card, executor)")
    return made


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """One worker to start: the agent it serves, under which reference, on which broker."""

    ref: AgentRef
    agent: str
    """``module:factory``."""
    broker_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: never in repr or logs
    idle_timeout: float = 60.0
    """The worker exits (status 3) if no request arrives within this many seconds."""
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def argv(self) -> list[str]:
        """The worker's arguments (no secrets: those travel in the environment; a URL's
        userinfo is dropped, its credentials belong in ``username``/``password``)."""
        url = str(BrokerURL.parse(self.broker_url))
        files = [(flag, value) for flag, value in (("--ca-file", self.ca_file),
                 ("--cert-file", self.cert_file), ("--key-file", self.key_file)) if value]
        return ["--broker", url, "--ref", str(self.ref), "--agent", self.agent,
                "--idle-timeout", str(self.idle_timeout),
                *[item for pair in files for item in pair]]

    @classmethod
    def for_connection(cls, connection: ConnectionSettings, *, ref: AgentRef, agent: str,
                       idle_timeout: float = 60.0) -> WorkerSpec:
        """A worker reaching the broker the way ``connection`` does (a TLS key protected
        by a password is not supported: the worker could not be given it safely)."""
        username, password = connection.credentials()
        tls = connection.tls
        return cls(ref=ref, agent=agent, broker_url=connection.display_url(),
                   username=username, password=password, idle_timeout=idle_timeout,
                   ca_file=tls.ca_file if tls else None,
                   cert_file=tls.cert_file if tls else None,
                   key_file=tls.key_file if tls else None)


@runtime_checkable
class WorkerHandle(Protocol):
    """A started worker, as its launcher sees it."""

    @property
    def ident(self) -> str:
        """Something an operator can find it by (a PID, a container id)."""

    async def wait(self) -> int:
        """The worker's exit status, once it has exited."""

    async def kill(self) -> None:
        """Stop it now, if it still runs; safe to call twice."""

    def diagnostics(self) -> str:
        """The last lines it wrote to stderr (empty if none), for a failed attempt's reason."""


@runtime_checkable
class Launcher(Protocol):
    """Starts workers. Returns once the process exists, not once it serves."""

    async def launch(self, spec: WorkerSpec) -> WorkerHandle: ...


class SubprocessWorker:
    """A worker started by :class:`SubprocessLauncher`; keeps the tail of its stderr."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._reader = asyncio.create_task(self._drain(), name=f"worker-stderr-{process.pid}")

    @property
    def ident(self) -> str:
        return f"pid {self.process.pid}"

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _drain(self) -> None:
        stream = self.process.stderr
        if stream is None:
            return
        while line := await stream.readline():
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    async def wait(self) -> int:
        code = await self.process.wait()
        # The pipe closes with the process; take its last lines before answering.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    def diagnostics(self) -> str:
        return "\n".join(self._stderr)


class SubprocessLauncher:
    """Starts each worker as ``PYTHON -m a2a_mqtt.workflows.worker ...`` on this host.

    ``env`` adds to (or overrides) this process's environment, e.g. a ``PYTHONPATH``
    where the factory's module lives.
    """

    def __init__(self, *, python: str = sys.executable,
                 env: Mapping[str, str] | None = None) -> None:
        self.python = python
        self.env = dict(env or {})
        self.started: list[SubprocessWorker] = []

    async def launch(self, spec: WorkerSpec) -> SubprocessWorker:
        env = {**os.environ, **self.env}
        # The decision the a2a-mqtt command takes at start-up, made for the worker's
        # process before it imports a2a-sdk (a2a_mqtt/telemetry.py).
        prefer_a2a_sdk_spans_off(env)
        env.pop(USERNAME_ENV, None)
        env.pop(PASSWORD_ENV, None)
        if spec.username is not None:
            env[USERNAME_ENV] = spec.username
        if spec.password is not None:
            env[PASSWORD_ENV] = spec.password
        process = await asyncio.create_subprocess_exec(
            self.python, "-m", "a2a_mqtt.workflows.worker", *spec.argv(), env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        worker = SubprocessWorker(process)
        self.started.append(worker)
        return worker
