"""The workflow supervisor: each workflow served as an A2A agent, runs in the shared DB.

``SupervisorConfig`` -> :class:`Supervisor` (an async context manager) ->
``serve(stop)``; :func:`run` (a2a_mqtt.service) does all three.
Any number of supervisors may serve the same workflows against one database
(SQLite on one host, PostgreSQL across hosts); they hold no state of their own
(docs/workflows.md §5):

- each publishes every workflow's card (retained, online) and subscribes to its
  request topic with a persistent session; every supervisor receives every
  request and the first to claim it in the database (``RequestClaims``, as
  claim-mode pools do) answers it, so requests published while all are down
  are served by the first to return. Only the request's designated supervisor
  (rendezvous hashing over the online ones, ``intake.py``) claims at once; the
  others look at their copies after a grace period, in one batch;
- a new run is inserted owned by its claimant (a lease with epoch 1); a
  :class:`RunDriver` drives each owned run; leases are renewed every
  ``lease_ttl / 3`` and any supervisor claims a run whose lease lapsed, or at
  once when the owner's Last Will on ``$a2a/v1/workflow/supervisor/{id}`` says
  it died;
- a caller's reply or cancel is appended to the run's log by whoever claims
  the request, and the owner is nudged on ``.../supervisor/{owner}/nudge``.

The configuration is in ``supervisor_config.py``; what the run drivers use (each
attempt's agent, launchers and their death reports, replies) in ``supervisor_agents.py``;
the runs it owns (leases, drivers, the shared poll, ``max_runs``) in ``supervisor_runs.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from contextlib import AsyncExitStack

from a2a.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import PREFIX, discovery_topic, request_topic
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.server.claims import RequestClaims
from a2a_mqtt.server.stores import create_tables
from a2a_mqtt.service import BaseServer
from a2a_mqtt.service import run as service_run
from a2a_mqtt.transport.base import (
    IncomingMessage,
    MqttTransport,
    PublishProperties,
    Subscription,
    TransportFactory,
    Will,
    default_transport,
)
from a2a_mqtt.workflows.driver import RunDriver
from a2a_mqtt.workflows.intake import DeferredCopies
from a2a_mqtt.workflows.launch import LaunchRequest, ReportsDeaths, StepLauncher
from a2a_mqtt.workflows.leases import Leases
from a2a_mqtt.workflows.store import RunStore
from a2a_mqtt.workflows.supervisor_config import SupervisorConfig, presence_topic
from a2a_mqtt.workflows.supervisor_runs import RunOwnership
from a2a_mqtt.workflows.wfagent import WorkflowFrontend, workflow_card

__all__ = ["Supervisor", "SupervisorConfig", "presence_topic", "run"]

log = logging.getLogger("a2a_mqtt.workflows")


class Supervisor(RunOwnership, BaseServer):
    """Serves workflows until ``serve``'s stop event is set; see the module docstring."""

    config: SupervisorConfig

    def __init__(self, config: SupervisorConfig, *,
                 transport_factory: TransportFactory | None = None) -> None:
        self.config = config
        self.workflows = {w.name: w for w in config.workflows}
        self._factory = transport_factory or default_transport
        self.store = RunStore(config.database_url)
        self.engine: AsyncEngine = self.store.engine
        self.leases = Leases(self.engine, owner=config.supervisor_id, ttl=config.lease_ttl)
        self.claims = RequestClaims(self.engine, ttl=max(600.0, config.lease_ttl * 10))
        self.boot = uuid.uuid4().hex[:8]
        self.drivers: dict[str, tuple[RunDriver, asyncio.Task[None]]] = {}
        self.dead: set[str] = set()
        # Online supervisors (ours excluded) -> the request topics they serve.
        self.members: dict[str, frozenset[str]] = {}
        self.topics = {request_topic(config.ref(w)) for w in config.workflows}
        self.transport: MqttTransport | None = None
        self.mqtt: A2AMqttClient | None = None
        self.frontend = WorkflowFrontend(self)
        self.deferred = DeferredCopies(claims=self.claims,
                                       owner=f"{config.supervisor_id}#{self.boot}",
                                       grace=config.claim_grace,
                                       serve=self.frontend.serve_claimed)
        self._clients: dict[str, Client] = {}
        self._launched: dict[str, tuple[StepLauncher, LaunchRequest]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._scan = asyncio.Event()
        self._halt = asyncio.Event()   # set when stopping: the poll loop ends
        self._stopping = False
        self._was_down = False
        self._room = asyncio.Condition()
        self._reserved = 0
        self._background: list[asyncio.Task[None]] = []
        self._deferred_task: asyncio.Task[None] | None = None
        self._calls = AsyncExitStack()  # the step-calling client (BaseServer owns _stack)

    # --- lifecycle -------------------------------------------------------------------

    async def _start(self, stack: AsyncExitStack) -> None:
        # One bounded stop for every part, a partly started supervisor's included.
        stack.push_async_callback(self._shutdown)
        self._stopping = False
        cfg = self.config
        await self.store.initialize()
        await create_tables(self.claims.initialize)
        for launcher in cfg.launchers:
            if isinstance(launcher, ReportsDeaths):
                launcher.report_deaths(self.agent_died)
        requester = RequesterConfig(
            connection=cfg.connection, org=cfg.org, unit=cfg.unit,
            requester_id=f"{cfg.supervisor_id}-calls", session_expiry=cfg.session_expiry,
            stream_idle_timeout=cfg.stream_idle_timeout, max_attempts=1)
        offline = json.dumps({"id": cfg.supervisor_id, "status": "offline"}).encode()
        options = cfg.connection.connect_options(
            client_id=f"{cfg.org}/{cfg.unit}/{cfg.supervisor_id}", clean_start=False,
            session_expiry=cfg.session_expiry,
            will=Will(topic=presence_topic(cfg.supervisor_id), payload=offline, qos=1,
                      retain=True))
        transport = self._factory(options)
        self.transport = transport
        await transport.subscribe(Subscription(f"{PREFIX}/workflow/supervisor/+", qos=1),
                                  self._on_presence)
        for workflow in cfg.workflows:
            await transport.subscribe(Subscription(request_topic(cfg.ref(workflow)), qos=1,
                                                   manual_ack=True), self.frontend.on_request)
        await transport.subscribe(Subscription(
            presence_topic(cfg.supervisor_id) + "/nudge", qos=0), self._on_nudge)
        transport.on_connection_change(self._on_connection)
        self.mqtt = await self._calls.enter_async_context(A2AMqttClient(requester))
        await transport.connect()
        await self._announce()
        self._halt.clear()
        self._background.append(asyncio.create_task(
            self._lease_loop(), name=f"{cfg.supervisor_id}.leases"))
        self._background.append(asyncio.create_task(
            self._poll_loop(), name=f"{cfg.supervisor_id}.poll"))
        self._deferred_task = asyncio.create_task(self.deferred.run(),
                                                  name=f"{cfg.supervisor_id}.deferred")

    async def _shutdown(self) -> None:
        """Stop driving (leases handed over at once), say offline, disconnect.

        Every step is bounded: a stop must end even with the broker or database gone."""
        self._stopping = True
        log.debug("supervisor %s stopping", self.config.supervisor_id)
        if self._deferred_task is not None:
            # Copies not looked at yet stay unacknowledged: the session brings them back.
            self._deferred_task.cancel()
            await asyncio.gather(self._deferred_task, return_exceptions=True)
            self.deferred.release()
            log.info("supervisor %s: %d copies of requests found taken by another "
                     "supervisor, %d taken over after the grace",
                     self.config.supervisor_id, self.deferred.lost, self.deferred.won)
        # The lease loop ends by itself between two database calls (a task cancelled
        # inside one can keep its pooled connection, and the engine's disposal waits).
        self._scan.set()
        self._halt.set()
        background, self._background = self._background, []
        _done, late = await asyncio.wait(background, timeout=5) if background else ((), ())
        for task in late:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        drivers = list(self.drivers.values())
        for driver, _task in drivers:
            driver.stop()
        if drivers:
            _done, late = await asyncio.wait([t for _, t in drivers], timeout=5)
            for task in late:
                task.cancel()
            await asyncio.gather(*(t for _, t in drivers), return_exceptions=True)
        for driver, _ in drivers:
            # A graceful stop hands the run over at once instead of after the TTL.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.leases.release(driver.run_id, driver.epoch), 5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.transport is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.transport.publish(
                    presence_topic(self.config.supervisor_id), self._presence("offline"),
                    qos=1, retain=True), 2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.transport.disconnect(), 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._calls.aclose(), 10)   # the step-calling client
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.engine.dispose(), 5)
        log.debug("supervisor %s stopped", self.config.supervisor_id)

    def _presence(self, status: str) -> bytes:
        return json.dumps({"id": self.config.supervisor_id, "status": status,
                           "topics": sorted(self.topics)}).encode()

    def members_of(self, topic: str) -> list[str]:
        """The online supervisors serving request topic ``topic`` (ours included)."""
        return [self.config.supervisor_id,
                *(who for who, topics in self.members.items() if topic in topics)]

    async def _announce(self) -> None:
        assert self.transport is not None
        cfg = self.config
        await self.transport.publish(presence_topic(cfg.supervisor_id),
                                     self._presence("online"), qos=1, retain=True)
        props = PublishProperties(user_properties=P.status_properties("online", "agent"))
        for workflow in cfg.workflows:
            card = workflow_card(workflow, cfg.ref(workflow), cfg.connection.display_url())
            await self.transport.publish(discovery_topic(cfg.ref(workflow)), card, qos=1,
                                         retain=True, properties=props)
        log.info("supervisor %s serving %s", cfg.supervisor_id,
                 ", ".join(str(cfg.ref(w)) for w in cfg.workflows))

    def _on_connection(self, up: bool) -> None:
        if not up:
            self._was_down = True
        elif self._was_down and not self._stopping:
            # Our Will may have fired (a broker restart): say we are back, re-check runs.
            self.spawn(self._announce(), "announce")
            self._scan.set()

    def _on_presence(self, msg: IncomingMessage) -> None:
        if msg.topic.endswith("/nudge"):
            return
        try:
            body = json.loads(msg.payload)
            who, status = str(body["id"]), str(body["status"])
        except (ValueError, KeyError, TypeError):
            return
        if who == self.config.supervisor_id:
            if status == "offline" and not self._stopping:
                self.spawn(self._announce(), "announce")
            return
        if status == "offline":
            self.dead.add(who)
            self._scan.set()  # its runs are ours to take now, not after the TTL
            if self.members.pop(who, None) is not None:
                self.deferred.member_gone(who)  # and its requests
        else:
            self.dead.discard(who)
            topics = body.get("topics")
            self.members[who] = frozenset(t for t in topics if isinstance(t, str)) \
                if isinstance(topics, list) else frozenset()

    def _on_nudge(self, msg: IncomingMessage) -> None:
        entry = self.drivers.get(msg.payload.decode(errors="replace"))
        if entry is not None:
            entry[0].wake()

    @property
    def now(self) -> float:
        return time.time()


def run(config: SupervisorConfig) -> None:
    """Blocking: serve on a new event loop until SIGINT/SIGTERM (a2a_mqtt.service.run)."""
    service_run(config)
