"""Spawning, probing and stopping a Mosquitto process.

:class:`MosquittoProcess` is the synchronous handle used by test fixtures and the
CLI; :class:`EmbeddedBroker` wraps it for asyncio code without threads: the
process is spawned with :class:`subprocess.Popen` (which returns at once) and
readiness and exit are polled with short ``asyncio.sleep`` steps.

Invariants: a started process always has a concrete port, kept across
:meth:`MosquittoProcess.restart` so clients and persistence find it again; the
config and the log live in the state directory; a process that is not running
holds no open file handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from a2a_mqtt.broker.config import BrokerConfig, free_port, render_config
from a2a_mqtt.errors import BrokerError, ConfigError

__all__ = ["INSTALL_HINT", "EmbeddedBroker", "MosquittoProcess", "find_mosquitto"]

INSTALL_HINT = (
    "install Mosquitto 2.x: `sudo apt-get install mosquitto` on Debian/Ubuntu, "
    "`brew install mosquitto` on macOS, or see https://mosquitto.org/download/"
)
_SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin")
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_POLL_INTERVAL = 0.005
_LOG_TAIL_LINES = 30
_PORT_ATTEMPTS = 3


def find_mosquitto(binary: str | os.PathLike[str] | None = None) -> str:
    """Return the path of the ``mosquitto`` executable.

    ``binary`` names an explicit executable; otherwise ``PATH`` is searched,
    then ``/usr/sbin`` and ``/usr/local/sbin`` (often missing from a user's PATH).
    Raises :class:`BrokerError` with an install hint when nothing is found.
    """
    if binary is not None:
        path = Path(binary)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise BrokerError(f"mosquitto executable {str(path)!r} not found; {INSTALL_HINT}")
    found = shutil.which("mosquitto")
    if found:
        return found
    for directory in _SEARCH_DIRS:
        candidate = Path(directory) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise BrokerError(f"mosquitto not found in PATH or {', '.join(_SEARCH_DIRS)}; {INSTALL_HINT}")


class MosquittoProcess:
    """One Mosquitto broker process, started from a :class:`BrokerConfig`.

    Args:
        config: the broker settings; ``state_dir`` is required. ``port=0``
            means a free port is chosen at the first :meth:`start` and then kept.
        binary: an explicit ``mosquitto`` executable; default: searched for.
    """

    def __init__(
        self, *, config: BrokerConfig, binary: str | os.PathLike[str] | None = None
    ) -> None:
        if config.state_dir is None:
            raise ConfigError("MosquittoProcess needs a config with a state_dir")
        self._config = config
        self._binary = binary
        # An auto-chosen port may be replaced if taken, but only before the first
        # successful start: afterwards clients and persistence rely on it.
        self._may_repick_port = config.port == 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    # -- properties -----------------------------------------------------------------

    @property
    def config(self) -> BrokerConfig:
        """The effective config (with the chosen port once started)."""
        return self._config

    @property
    def state_dir(self) -> Path:
        """Directory holding ``mosquitto.conf``, ``mosquitto.log`` and the database."""
        assert self._config.state_dir is not None  # checked in __init__
        return Path(self._config.state_dir)

    @property
    def port(self) -> int:
        """The plain MQTT port; 0 before the first start when it is chosen at start."""
        return self._config.port

    @property
    def host(self) -> str:
        """The listener address."""
        return self._config.host

    @property
    def url(self) -> str:
        """``mqtt://host:port`` of the main listener (``mqtts://`` when it is TLS)."""
        scheme = "mqtts" if self._config.listener_tls else "mqtt"
        return f"{scheme}://{_bracket(self.host)}:{self.port}"

    @property
    def ws_url(self) -> str | None:
        """``ws://host:port/mqtt`` of the WebSockets listener (``wss://`` with TLS)."""
        port = self._config.websockets_port
        scheme = "wss" if self._config.listener_tls else "ws"
        return None if port is None else f"{scheme}://{_bracket(self.host)}:{port}/mqtt"

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def config_path(self) -> Path:
        """Where the rendered config is written."""
        return self.state_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        """Where Mosquitto logs, with its stdout and stderr (appended across restarts)."""
        return self._config.log_file or self.state_dir / "mosquitto.log"

    def log_text(self) -> str:
        """The whole broker log so far (all runs)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the broker and return once its MQTT port accepts connections.

        Raises :class:`BrokerError` (with the log tail) if the process exits or
        does not listen within 10 s; when the port was chosen here and turned out
        to be taken, another free port is tried first.
        """
        for attempt in range(_PORT_ATTEMPTS):
            self._spawn()
            deadline = time.monotonic() + _START_TIMEOUT
            while True:
                failure = self._startup_failure(deadline)
                if failure is not None:
                    if self._retry_port(failure, attempt):
                        break
                    raise failure
                if all(_port_open(self.host, port) for port in self._listener_ports()):
                    self._may_repick_port = False
                    return
                time.sleep(_POLL_INTERVAL)

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its database), wait, then SIGKILL if it lingers."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._release()

    def kill(self) -> None:
        """SIGKILL now, like a crash: nothing since the last autosave is persisted."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._release()

    def restart(self) -> None:
        """Stop and start again on the same port and state directory."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MosquittoProcess {self.url} {state} state_dir={str(self.state_dir)!r}>"

    # -- shared with EmbeddedBroker -------------------------------------------------

    def _spawn(self) -> None:
        """Write the config and launch the process; return without waiting."""
        if self.running:
            raise BrokerError(f"broker already running on {self.url}")
        self._release()
        binary = find_mosquitto(self._binary)
        if self._config.port == 0:
            self._config = dataclasses.replace(self._config, port=free_port(self.host))
        self._check_ports_free()
        if self._config.log_file is None:
            self._config = dataclasses.replace(self._config, log_file=self.log_path)
        if self._config.user is None:
            # Started as root, Mosquitto switches to user "mosquitto", which may not
            # be able to read our state directory; keep the current user instead.
            self._config = dataclasses.replace(self._config, user=_current_user())
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(self._config))
        self._log = self.log_path.open("ab")
        self._log_offset = self._log.tell()
        # Its own process group: a terminal's Ctrl-C reaches our process only, which
        # stops its agents (they republish their cards offline) before the broker.
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )

    def _check_ports_free(self) -> None:
        """Refuse to start on a port that already accepts connections.

        Readiness is "our port accepts connections", so a foreign listener on it
        would pass for our broker. An auto-chosen port is chosen again instead.
        """
        for _ in range(_PORT_ATTEMPTS):
            busy = [port for port in self._listener_ports() if _port_open(self.host, port)]
            if not busy:
                return
            if not self._may_repick_port or busy != [self.port]:
                raise BrokerError(
                    f"port(s) {busy} on {self.host} already accept connections; "
                    "stop whatever listens there or choose other ports"
                )
            self._config = dataclasses.replace(self._config, port=free_port(self.host))
        raise BrokerError(f"no free port found on {self.host}")

    def _startup_failure(self, deadline: float) -> BrokerError | None:
        """The error to raise if the process died or the deadline passed, else None."""
        proc = self._proc
        if proc is None:
            return BrokerError("broker was not spawned")
        code = proc.poll()
        if code is not None:
            self._release()
            return BrokerError(
                f"mosquitto exited with code {code} while starting on {self.url}; "
                f"log tail:\n{self._log_tail()}"
            )
        if time.monotonic() > deadline:
            self.kill()
            return BrokerError(
                f"mosquitto did not accept connections on {self.url} within "
                f"{_START_TIMEOUT:.0f} s; log tail:\n{self._log_tail()}"
            )
        return None

    def _retry_port(self, failure: BrokerError, attempt: int) -> bool:
        """Pick a new port if ours was auto-chosen and turned out to be taken."""
        if not self._may_repick_port or attempt + 1 >= _PORT_ATTEMPTS:
            return False
        if "in use" not in str(failure):
            return False
        self._config = dataclasses.replace(self._config, port=free_port(self.host))
        return True

    def _listener_ports(self) -> list[int]:
        cfg = self._config
        extra = [p for p in (cfg.websockets_port, cfg.tls_port) if p is not None]
        return [cfg.port, *extra]

    def _log_tail(self) -> str:
        text = self.log_text().encode()[self._log_offset :].decode(errors="replace")
        return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:]) or "(empty log)"

    def _release(self) -> None:
        """Forget an exited process and close the log handle."""
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None
        if self._proc is None and self._log is not None:
            self._log.close()
            self._log = None


class EmbeddedBroker:
    """An async context manager running Mosquitto for the duration of a block.

    ``async with EmbeddedBroker() as broker: ... broker.url ...``. With
    ``state_dir=None`` (and none in ``config``) a temporary directory is used and
    removed on exit. Waiting never blocks the event loop and starts no thread.

    Args:
        config: broker settings; default :class:`BrokerConfig()` (free port,
            persistence, unlimited queue).
        state_dir: overrides ``config.state_dir``.
        binary: an explicit ``mosquitto`` executable; default: searched for.
    """

    def __init__(
        self,
        *,
        config: BrokerConfig | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        binary: str | os.PathLike[str] | None = None,
    ) -> None:
        self._config = config or BrokerConfig()
        if state_dir is not None:
            self._config = dataclasses.replace(self._config, state_dir=Path(state_dir))
        self._binary = binary
        self._process: MosquittoProcess | None = None
        self._tmp_dir: Path | None = None

    @property
    def process(self) -> MosquittoProcess:
        """The underlying process handle (for ``kill``/``restart`` in tests and demos)."""
        if self._process is None:
            raise BrokerError("the embedded broker is not started")
        return self._process

    @property
    def url(self) -> str:
        """``mqtt://host:port`` of the running broker."""
        return self.process.url

    @property
    def port(self) -> int:
        """The MQTT port of the running broker."""
        return self.process.port

    async def start(self) -> None:
        """Spawn Mosquitto and wait (asynchronously) until it accepts connections."""
        if self._process is not None:
            raise RuntimeError("EmbeddedBroker is not reentrant")
        config = self._config
        if config.state_dir is None:
            self._tmp_dir = Path(tempfile.mkdtemp(prefix="a2a-mqtt-broker-"))
            config = dataclasses.replace(config, state_dir=self._tmp_dir)
        process = MosquittoProcess(config=config, binary=self._binary)
        self._process = process
        try:
            for attempt in range(_PORT_ATTEMPTS):
                process._spawn()
                if await _wait_ready(process, attempt):
                    return
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """SIGTERM, poll for exit, SIGKILL after 5 s; remove a temporary state dir."""
        process, self._process = self._process, None
        if process is not None:
            proc = process._proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + _STOP_TIMEOUT
                # Polling, not an Event: a child watcher would start a thread.
                while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(_POLL_INTERVAL)
            process.kill()  # no-op if it already exited; reaps and closes the log
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _wait_ready(process: MosquittoProcess, attempt: int) -> bool:
    """True once the port accepts; False to retry on a new port; raise otherwise."""
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        failure = process._startup_failure(deadline)
        if failure is not None:
            if process._retry_port(failure, attempt):
                return False
            raise failure
        ports = process._listener_ports()
        if all([await _port_open_async(process.host, port) for port in ports]):
            process._may_repick_port = False
            return True
        await asyncio.sleep(_POLL_INTERVAL)


async def _port_open_async(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "root" if os.geteuid() == 0 else str(os.geteuid())


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
