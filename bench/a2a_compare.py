"""A2A SendMessage, side by side: a2a-mqtt vs a2a-sdk over HTTP vs the EMQX SDK vs raw MQTT.

Usage::

    python bench/a2a_compare.py                 # 3 runs + profile, 10-15 min; table + JSON
    python bench/a2a_compare.py --quick         # 1 small run, ~1 min (smoke test)
    python bench/a2a_compare.py --runs 5        # more runs when the machine is noisy
    python bench/a2a_compare.py --profile-only  # only the CPU breakdown of our path
    python bench/a2a_compare.py --report FILE   # re-print the tables of a results file

See docs/performance.md for the latest figures and how to read them.

One Mosquitto (``EmbeddedBroker`` with the default generated config) serves
every MQTT variant. Each variant's server runs in its own process (this script
re-invoked with ``--serve VARIANT``); the client runs in this process, so client
and server never share an event loop or a GIL. A fresh server process is
started for every (run, variant). All use the default asyncio loop.

Variants (the same trivial work: ``bench/_common.py:BenchExecutor`` enqueues the
Task, one artifact with the input text, COMPLETED):

* ``ours``: ``A2AMqttClient(...).transport_for(ref).send_message`` (unary
  SendMessage, QoS 1) -> ``AgentServer`` (a2a-sdk ``DefaultRequestHandler`` +
  ``InMemoryTaskStore``), both with their defaults;
* ``http``: a2a-sdk's ``JsonRpcTransport`` on an ``httpx.AsyncClient`` ->
  a2a-sdk ``create_jsonrpc_routes`` + ``create_agent_card_routes`` in a
  Starlette app under uvicorn, ``DefaultRequestHandler`` + ``InMemoryTaskStore``;
* ``http-aiohttp`` (informational): the same server, the same JSON-RPC request
  sent with aiohttp instead of httpx, to separate server cost from httpx's;
* ``emqx``: the EMQX ``a2a-over-mqtt`` SDK as shipped: ``Requester.stream``
  (a new MQTT connection per call) -> ``Responder`` (``max_concurrent=4``)
  whose ``on_request`` returns the input text (it then publishes submitted,
  artifact, completed: its own equivalent of the executor);
* ``emqx-mc100``: the same with ``max_concurrent=100`` (for fairness);
* ``floor``: raw request/reply on our MQTT seam (``create_transport``), no A2A:
  the responder echoes the payload to the Response Topic with the Correlation
  Data (QoS 1 both ways).

a2a-sdk's OpenTelemetry spans (``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED``, read
once when a2a-sdk is imported) are left at each product's default: the ``ours``
server imports ``a2a_mqtt`` first, as an application does (a2a_mqtt turns them
off unless set), the a2a-sdk HTTP server gets the user's environment (on unless
set). Each server reports its state; ``--server-env KEY=VALUE`` overrides it
for every server.

Scenarios: sequential (1 in flight), 10 and 100 in flight; each after a
warm-up. Every metric is the median over ``--runs`` runs. CPU per request is
read from /proc for the server and broker processes and from getrusage for
the client (10 ms tick resolution, over thousands of requests).

The profile phase runs ``--profile-n`` sequential ``ours`` requests while
profiling both the agent-server process and the client process: with py-spy
(sampling; ``pip install py-spy``) when it is installed, else
with cProfile (``--profiler`` chooses). It aggregates time by package: own
(the leaf Python frame, including C code it calls; for cProfile a C builtin's
time is charged to the package that called it) and, for py-spy, inclusive
(the package anywhere on the stack). Waiting in epoll is reported apart.
Finally, a2a-sdk's ``DefaultRequestHandler`` is timed alone, in-process and
without any transport (spans on, then off), so the server CPU beyond it can be
told apart.

Every wait is bounded; the whole run is bounded by ``--deadline`` seconds.
Results: a table on stdout and ``bench/results/a2a_compare-<timestamp>.json``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from a2a_bench.settings import SERVER_ENV

if sys.argv[1:2] == ["--serve"] and sys.argv[2:3] in (["ours"], ["ours-sdk"]):
    # Our agent server makes a2a-mqtt's start-up decision before a2a-sdk is imported,
    # as an a2a-mqtt process does, so its defaults apply to it (and only to it).
    from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

    prefer_a2a_sdk_spans_off()

from a2a_bench.main import child, main, parse_args
from a2a_bench.micro import micro_child
from a2a_bench.report import report

if __name__ == "__main__":
    _args = parse_args(sys.argv[1:])
    if _args.serve:
        sys.exit(child(_args))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt's pending-publish warnings
    for item in _args.server_env:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--server-env needs KEY=VALUE, got {item!r}")
        SERVER_ENV[key] = value
    if _args.report:
        sys.exit(report(Path(_args.report)))
    if _args.micro_child:
        sys.exit(micro_child(_args))
    sys.exit(asyncio.run(main(_args)))

