"""AgentConfig: everything one MQTT-served agent needs, as a frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from a2a.server.agent_execution import AgentExecutor
from a2a.server.tasks import TaskStore
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.tracing import TracingConfig

if TYPE_CHECKING:
    from a2a_mqtt.security.authz import RequestAuthorizer
    from a2a_mqtt.security.cards import CardSigner
    from a2a_mqtt.security.e2e import E2EContext
    from a2a_mqtt.server.agent import AgentServer

__all__ = ["PAYLOAD_ENCODINGS", "WORKER_DISPATCHES", "AgentConfig"]

WORKER_DISPATCHES = ("partition", "claim", "shared")
PAYLOAD_ENCODINGS = ("auto", "json")


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """One agent served over MQTT.

    Durable by default: the agent's MQTT session outlives its process for
    ``session_expiry`` seconds (clean start off), so requests published while it
    restarts are delivered when it returns.
    """

    ref: AgentRef
    """``org/unit/agent``; also the MQTT Client ID."""
    card: AgentCard
    """The card to publish; the MQTT interface and routing extension are added."""
    executor: AgentExecutor
    """Any a2a-sdk executor; run with a2a-sdk's request-handler semantics (``fast_path``)."""
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection)."""
    public_broker_url: str | None = None
    """The URL written into the card, when clients reach the broker differently."""
    task_store: TaskStore | None = None
    """A ready store; wins over ``task_store_url``."""
    task_store_url: str | None = None
    """``memory://`` (default), ``sqlite:///path.db`` or ``postgresql://...``."""
    memory_store_max_tasks: int = 1_000
    """``memory://`` only: how many of the newest tasks are kept (older finished ones go)."""
    memory_store_max_bytes: int = 32 * 1024 * 1024
    """``memory://`` only: how many bytes of tasks (serialized) are kept."""
    extended_card: AgentCard | None = None
    """Served by GetExtendedAgentCard; sets ``capabilities.extendedAgentCard``."""
    session_expiry: int = 3600
    """Seconds the broker keeps our session (and queues requests) while we are away; 0 = none."""
    max_concurrency: int = 64
    """Requests handled at once; more wait in line."""
    max_pending: int = 10_000
    """Requests allowed to wait; beyond that the agent answers responder_unavailable."""
    overload_retry_after: int = 1
    """Seconds an overload answer (-32004) tells the requester to wait (``retry-after``)."""
    max_payload_bytes: int = 1_048_576
    """Larger request payloads are answered with -32600 and not parsed."""
    shutdown_grace: float = 10.0
    """Seconds a graceful stop waits for requests in progress."""
    interrupted_task_timeout: float | None = None
    extra_user_properties: tuple[tuple[str, str], ...] = field(default=())
    pool: str | None = None
    """Join pool ``org/unit/pool/POOL`` (same org and unit as the agent): consume its
    requests through the shared subscription every member uses."""
    pool_card: AgentCard | None = None
    """The card published for the pool (default: the agent's card)."""
    watch_broker_drops: bool = True
    """Follow ``$SYS/broker/publish/messages/dropped`` and log every increase."""
    peer_recovery_grace: float = 10.0
    """Seconds a pool member waits after a peer's offline card before failing the turns
    the peer left in flight (a peer that reconnects within it keeps them)."""
    leave_pool_on_stop: bool = False
    """On a graceful stop, unsubscribe from the pool before disconnecting, so the
    broker stops queueing pool requests for this member's session (scale-down).
    Off by default: a member that restarts keeps receiving its pool's requests
    while it is away, like its own."""
    pool_dispatch: str = "auto"
    """``shared`` ($share subscription), ``claim`` (members race in the shared store:
    for brokers whose shared subscriptions miss $ topics) or ``auto`` (probe once)."""
    authorizer: RequestAuthorizer | None = None
    """Checks each request's credentials against the card's security requirements
    (a2a_mqtt.security.authz); None: no checks."""
    card_signer: CardSigner | None = None
    """Signs the cards this agent publishes (A2A 1.0 ``signatures``)."""
    e2e: E2EContext | None = None
    """ubsp-v1 end-to-end encryption: requests, replies and stream items are JWE."""
    fast_path: bool = True
    """Run task turns on the lean handler (server/fastpath.py: a2a-sdk's semantics
    without its per-task queues and producer/consumer tasks; about 4x less agent CPU).
    False: a2a-sdk's DefaultRequestHandler for every request (the reference)."""
    payload_encoding: str = "auto"
    """``auto``: read binary protobuf requests and answer in binary whoever asks for it
    (docs/binding.md §3.4); ``json``: JSON only, as a peer that predates binary (binary
    requests are answered -32700, so requesters fall back to JSON). ubsp-v1 is JSON only."""
    tracing: TracingConfig = field(default_factory=TracingConfig)
    """Spans and their export (docs/observability.md, Tracing); off by default. The
    first service of a process to start with tracing on sets it up for the process."""

    worker: int | None = None
    """Set by ``serve_agents(..., workers=N)`` (a2a_mqtt.server.workers): this process is
    worker ``K`` of ``worker_count``. It connects as ``<client id>.wK`` with no will and
    publishes no card (the supervisor holds both), and takes its share of the agent's
    requests as ``worker_dispatch`` says. None: the agent's only process."""
    worker_count: int = 1
    """How many workers serve the agent (with ``worker``)."""
    worker_dispatch: str = "partition"
    """How workers share the agent's requests (docs/performance.md, workers):
    ``partition`` (every worker receives every request and serves those whose Task.id,
    or for requests naming no task whose Correlation Data, hashes to its index: no
    database round trip, and each task stays with one worker), ``claim`` (workers
    race in the shared store, like claiming pool members: the least busy wins) or
    ``shared`` (a ``$share`` subscription: brokers that deliver ``$`` topics to it)."""

    @property
    def client_id(self) -> str:
        """The MQTT Client ID: the reference, or with ``.wK`` for worker ``K`` (ACLs that
        bind a login to Client IDs must allow ``org/unit/agent.w0`` ... too)."""
        if self.worker is None:
            return self.ref.client_id
        return f"{self.ref.client_id}.w{self.worker}"

    def server(self) -> AgentServer:
        """This config's server (``a2a_mqtt.run(config)`` runs it)."""
        from a2a_mqtt.server.agent import AgentServer  # noqa: PLC0415 - it imports this module

        return AgentServer(self)

    @property
    def runs_tasks_alone(self) -> bool:
        """No other process runs, cancels or streams this agent's tasks: a lone agent, or
        a worker under ``partition`` dispatch, which every request naming one of its tasks
        reaches (the Task.id picks the worker: pooling.worker_of). Not pool members, nor
        ``claim``/``shared`` workers, nor workers with ubsp-v1 (sealed requests cannot
        be routed by their Task.id): they share their tasks through the store."""
        if self.pool is not None:
            return False
        if self.worker is None:
            return True
        return self.worker_dispatch == "partition" and self.e2e is None

    @property
    def pool_ref(self) -> AgentRef | None:
        """The pool this agent serves, if any."""
        if self.pool is None:
            return None
        return AgentRef(self.ref.org, self.ref.unit, self.pool, pool=True)

    def __post_init__(self) -> None:
        if self.ref.pool:
            raise ConfigError("an agent needs its own org/unit/agent reference")
        for name in ("max_concurrency", "max_pending", "max_payload_bytes",
                     "overload_retry_after", "memory_store_max_tasks",
                     "memory_store_max_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.pool is not None:
            self.pool_ref  # noqa: B018 - validates the pool id
            if self.pool_dispatch not in ("auto", "shared", "claim"):
                raise ConfigError("pool_dispatch must be auto, shared or claim")
            if self.task_store is None and self.task_store_url in (None, "memory://", "memory"):
                raise ConfigError(
                    "pool members must share a task store so any member can answer for a "
                    "task another started: set task_store_url to sqlite:///FILE (one host) "
                    "or postgresql://... (many hosts)")
        if self.worker is not None:
            if not 0 <= self.worker < self.worker_count:
                raise ConfigError("worker must be >= 0 and below worker_count")
            if self.worker_dispatch not in WORKER_DISPATCHES:
                raise ConfigError(f"worker_dispatch must be one of "
                                  f"{', '.join(WORKER_DISPATCHES)}")
            if self.pool is not None:
                raise ConfigError("workers of one agent cannot also join a pool yet")
            if self.task_store is None and self.task_store_url in (None, "memory://", "memory"):
                raise ConfigError(
                    "workers must share a task store (processes do not share memory://): "
                    "set task_store_url to sqlite:///FILE or postgresql://...")
        if self.payload_encoding not in PAYLOAD_ENCODINGS:
            raise ConfigError(f"payload_encoding must be one of {', '.join(PAYLOAD_ENCODINGS)}")
        if self.session_expiry < 0:
            raise ConfigError("session_expiry must be >= 0")
        if self.e2e is not None and self.e2e.identity != str(self.ref):
            raise ConfigError(f"the ubsp-v1 context is for {self.e2e.identity}, "
                              f"this agent is {self.ref}")
