"""Serving commands: ``broker``, ``example``, ``demo``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from pathlib import Path

import click

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.agent_security_opts import AgentSecurity, agent_security_options
from a2a_mqtt.cli.common import payload_encoding_option, run_async
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.cli.observability_opts import observability_options
from a2a_mqtt.cli.state import announce_broker
from a2a_mqtt.cli.tracing_opts import TraceOptions, tracing_options
from a2a_mqtt.errors import BrokerError, ConfigError, WorkerError
from a2a_mqtt.observability.config import ObservabilityConfig

__all__ = ["broker", "demo", "example"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, help="0 picks a free port.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Persistence directory (default: a temporary one). With --secure it also "
                   "keeps the CA, the identities and the admin profile across restarts.")
@click.option("--websockets-port", type=int, default=None)
@click.option("--secure", is_flag=True,
              help="TLS only, no anonymous access, identities managed while it runs "
                   "(`a2a-mqtt identity`), ACLs from the binding's topic rules.")
@click.option("--mtls", is_flag=True, help="With --secure: also require a client certificate.")
@click.option("--hostname", "hostnames", multiple=True,
              help="With --secure: another name or address for the server certificate.")
@click.option("--certfile", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="With --secure: your server certificate (with --keyfile, --cafile).")
@click.option("--keyfile", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--cafile", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--no-state-file", is_flag=True,
              help="Do not announce the URL in the state file other commands read.")
def broker(host: str, port: int, state_dir: Path | None, websockets_port: int | None,
           secure: bool, mtls: bool, hostnames: tuple[str, ...], certfile: Path | None,
           keyfile: Path | None, cafile: Path | None, no_state_file: bool) -> None:
    """Run Mosquitto with a generated config until interrupted; prints its URL.

    While it runs, the URL is also written to $XDG_RUNTIME_DIR/a2a-mqtt/broker
    (else <tmp>/a2a-mqtt-<uid>/broker): other commands use it when given no
    --broker, A2A_MQTT_BROKER or profile. The file is removed on exit.
    """
    from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker  # noqa: PLC0415
    from a2a_mqtt.broker.secure import SecureBroker, SecureBrokerConfig  # noqa: PLC0415

    if not secure and (mtls or hostnames or certfile or keyfile or cafile):
        raise click.UsageError("--mtls, --hostname, --certfile, --keyfile and --cafile "
                               "need --secure")
    if secure and websockets_port is not None:
        raise click.UsageError("--secure serves MQTT over TLS only; --websockets-port is "
                               "not supported with it yet")

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if secure:
            config = SecureBrokerConfig(host=host, port=port, state_dir=state_dir,
                                        hostnames=hostnames, certfile=certfile,
                                        keyfile=keyfile, cafile=cafile, mtls=mtls)
            async with SecureBroker(config) as sb:
                announce(sb.url)
                click.echo(sb.url, nl=True)
                click.echo(f"secure broker: TLS only, no anonymous access; CA {sb.ca_file}\n"
                           f"admin login: profile 'admin' in {sb.profiles_file}\n"
                           f"add identities with: a2a-mqtt identity add ORG/UNIT/NAME --role "
                           f"ROLE --profiles-file {sb.profiles_file} --profile admin "
                           "--save-profile NAME", err=True)
                await stop.wait()
            return
        plain = BrokerConfig(host=host, port=port, state_dir=state_dir,
                             websockets_port=websockets_port)
        async with EmbeddedBroker(config=plain) as b:
            announce(b.url)
            click.echo(b.url, nl=True)
            await stop.wait()

    with contextlib.ExitStack() as cleanup:
        def announce(url: str) -> None:
            if not no_state_file:
                cleanup.enter_context(announce_broker(url))
        try:
            run_async(go())
        except (BrokerError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("name")
@click.option("--agent", "agent_ref", default=None, help="org/unit/agent to serve as.")
@connection_options
@click.option("--task-store", envvar="A2A_MQTT_TASK_STORE", default=None,
              help="memory:// (default), sqlite:///file.db or postgresql://...")
@click.option("--session-expiry", type=int, default=3600, show_default=True)
@click.option("--pool", default=None, help="Also serve pool org/unit/pool/POOL (shared "
              "subscription); defaults the task store to ./a2a-mqtt-ORG-UNIT-POOL.db.")
@click.option("--pool-dispatch", envvar="A2A_MQTT_POOL_DISPATCH", default="auto",
              show_default=True, type=click.Choice(["auto", "shared", "claim"]),
              help="How pool members share requests: a $share subscription, claims in "
              "the shared store (brokers whose $share misses $ topics), or probe.")
@click.option("--leave-pool-on-stop", is_flag=True, envvar="A2A_MQTT_LEAVE_POOL_ON_STOP",
              help="Unsubscribe from the pool on a graceful stop (scale-down).")
@click.option("--keepalive", envvar="A2A_MQTT_KEEPALIVE", type=int, default=30,
              show_default=True, help="MQTT keepalive seconds (the will fires after 1.5x).")
@click.option("--max-concurrency", type=int, default=64, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes serving the agent behind one card; more than 1 need a shared "
              "--task-store (sqlite:///FILE or postgresql://...).")
@click.option("--worker-dispatch", envvar="A2A_MQTT_WORKER_DISPATCH", default="auto",
              show_default=True, type=click.Choice(["auto", "partition", "claim", "shared"]),
              help="How workers share requests: by a hash of the task each request names "
              "(each task stays with one worker; no database work), claims in the store "
              "(the least busy wins), a $share subscription, or probe ($share where the "
              "broker supports it, else partition).")
@payload_encoding_option("Read binary protobuf requests and answer in binary whoever asks "
                         "(auto), or JSON only.")
@tracing_options
@observability_options(port=True)
@agent_security_options
def example(name: str, agent_ref: str | None, conn: Connection, trace: TraceOptions,
            security: AgentSecurity,
            task_store: str | None,
            session_expiry: int,
            pool: str | None, pool_dispatch: str, leave_pool_on_stop: bool, keepalive: int,
            max_concurrency: int, workers: int, worker_dispatch: str, payload_encoding: str,
            observability: ObservabilityConfig) -> None:
    """Serve bundled example agent NAME in the foreground until interrupted."""
    from a2a_mqtt.examples import EXAMPLES  # noqa: PLC0415
    from a2a_mqtt.server import AgentConfig, AgentHost  # noqa: PLC0415
    from a2a_mqtt.server.workers import WorkerSupervisor  # noqa: PLC0415

    if name not in EXAMPLES:
        raise click.BadParameter(f"unknown example {name!r}; choose from "
                                 f"{', '.join(sorted(EXAMPLES))}", param_hint="NAME")
    ex = EXAMPLES[name]
    try:
        # On a secure broker the agent is its identity (Client ID = org/unit/agent).
        default = str(conn.identity) if conn.identity is not None else ex.default_ref
        ref = AgentRef.parse(agent_ref or default)
        if pool is not None and task_store is None:
            task_store = f"sqlite:///a2a-mqtt-{ref.org}-{ref.unit}-{pool}.db"
        extended = ex.extended_card() if ex.extended_card is not None else None
        card, secured = security.apply(ref, ex.card())
        config = AgentConfig(ref=ref, card=card, executor=ex.executor(), **secured,
                             extended_card=extended,
                             connection=dataclasses.replace(conn.settings, keepalive=keepalive),
                             task_store_url=task_store, session_expiry=session_expiry,
                             pool=pool, pool_dispatch=pool_dispatch,
                             leave_pool_on_stop=leave_pool_on_stop, max_concurrency=max_concurrency,
                             payload_encoding=payload_encoding, tracing=trace.config(str(ref)))
        server: AgentHost | WorkerSupervisor = (
            AgentHost([config], observability=observability) if workers == 1 else
            WorkerSupervisor([config], workers=workers, dispatch=worker_dispatch,
                             observability=observability))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    def ready() -> None:  # said once connected and announced, never before
        processes = f" in {workers} worker processes" if workers > 1 else ""
        click.echo(f"serving {name} as {config.ref}{processes} on {conn.broker} "
                   "(Ctrl-C to stop)", err=True)
    try:
        run_async(server.serve(on_ready=ready), conn=conn)
    except WorkerError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--broker", envvar="A2A_MQTT_BROKER", default=None,
              help="Use this broker instead of starting Mosquitto.")
@click.option("--secure", is_flag=True,
              help="Run on a secure broker (TLS only, identities, ACLs from the topic rules) "
                   "with bearer tokens and signed cards.")
@click.option("--stay", is_flag=True,
              help="Then keep the agents up and serve the dashboard (its URL is printed) "
                   "until Ctrl-C.")
@click.option("--dashboard-port", type=int, default=8800, show_default=True,
              help="With --stay: the dashboard's port (taken: a free one).")
def demo(broker: str | None, secure: bool, stay: bool, dashboard_port: int) -> None:
    """Start a broker and the production-line agents, discover them, run the line workflow."""
    from a2a_mqtt.demo import DemoConfig, run_demo  # noqa: PLC0415

    if stay and secure:
        raise click.UsageError("--stay serves the dashboard beside the plain demo; the "
                               "secure demo does not keep it up yet")
    try:
        config = DemoConfig(broker_url=broker, secure=secure)
        then = (lambda url: _serve_dashboard(url, dashboard_port)) if stay else None
        run_async(run_demo(config, out=click.echo, then=then))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


async def _serve_dashboard(broker_url: str, port: int) -> None:
    """``demo --stay``: the dashboard beside the demo's agents until SIGINT/SIGTERM."""
    from a2a_mqtt.connection import ConnectionSettings  # noqa: PLC0415
    from a2a_mqtt.dashboard import DashboardConfig, DashboardError  # noqa: PLC0415

    async def serve(port: int) -> None:
        server = DashboardConfig(connection=ConnectionSettings(url=broker_url),
                                 port=port).server()
        await server.serve(on_ready=lambda: click.echo(
            f"dashboard {server.url}/ (the fleet, the cards, a client; Ctrl-C to stop)"))

    try:
        await serve(port)
    except DashboardError:
        if port == 0:
            raise
        click.echo(f"dashboard port {port} is taken; using a free one")
        await serve(0)
