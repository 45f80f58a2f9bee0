"""Pool scaling: throughput of 1, 2 and 4 pool members against one non-pooled agent.

Usage::

    python bench/pool_scaling.py                  # what docs/performance.md reports:
                                                  # 3 runs x 400 requests per row (~15 min)
    python bench/pool_scaling.py --runs 5         # a steadier median
    python bench/pool_scaling.py --quick          # 1 run, PostgreSQL rows only, no py-spy
    python bench/pool_scaling.py --concurrency 4  # members that run 4 turns at once
    python bench/pool_scaling.py --json /tmp/pools.json   # also write all results

The question: does adding members add capacity? A member is one Python process
whose capacity is bounded — by ``max_concurrency`` (``--concurrency``, default
1: one turn at a time, like an agent that drives one model session or one tool
instance) and by the one CPU core a process can use. The executor waits 50 ms
per task (I/O bound) and 200 requests stay in flight, far more than 4 members
can take, so every row is limited by its members, never by the offered load:
the ideal ratios are 2 and 4. With ``--concurrency 1`` one member needs about a
third of a core, so 4 members plus the broker, PostgreSQL and this client fit
on this 2-core machine and the ratio measures the pool. With 4 or 16 slots a
single member already fills a core (the database store costs ~20 ms of CPU per
request, docs/performance.md), and 4 members would need more cores than the
machine has: those runs measure the machine, and the report says so (member
CPU in cores, machine busy).

What runs:

* one Mosquitto (``EmbeddedBroker``, the generated config: persistence on,
  ``max_queued_messages 0``, ``max_inflight_messages 1000``) for the whole
  bench; every measurement uses its own pool id and member ids, so no session
  or claim left by one measurement can touch the next;
* every agent is a separate process (this script re-invoked with ``--serve``),
  like ``tests/behaviour/pool/member.py``, running ``SleepyExecutor``: enqueue
  the Task, ``asyncio.sleep(--delay)``, add one artifact with the input text,
  complete;
* the client (this process) keeps ``--inflight`` unary SendMessage requests in
  flight through one ``A2AMqttClient`` until ``--requests`` are answered, after
  ``--warmup`` requests that are not measured; no retries (``max_attempts=1``)
  and a 90 s first-reply timeout, so every failure shows; throughput is
  answers / time to the last answer;
* the task store is shared by all members, fresh for each measurement: a
  throwaway PostgreSQL database when one answers at ``--postgres`` (default
  ``postgresql://postgres@127.0.0.1:5432/test``; created, dropped after), and a
  SQLite file (``sqlite:///<tmp>/pool-<id>.db``, WAL as ``open_task_store``
  sets it).

Rows (``--configs``):

* ``single``: one agent, no pool, addressed directly (same store, executor and
  max_concurrency) — the baseline the pool is compared with;
* ``pool-1``, ``pool-2``, ``pool-4``: N members of pool ``bench/pool/pool/<id>``,
  requests published to the pool topic. ``pool_dispatch`` is ``auto``: on
  Mosquitto it probes and falls back to ``claim`` (every member receives
  every request; a member with a free slot claims the oldest copy nobody holds);
* ``rr-4`` (control): the same 4 members, but the client sends request i to
  member i mod 4's *own* topic: what perfect broker-side dispatch (``$share``)
  would give, without claims;
* ``single-mem`` (control): the single agent with the in-memory store, to
  separate the database's cost from the rest.

Per row: req/s, p50/p99 latency, errors, and CPU per answered request of the
members, the broker, the client and (PostgreSQL rows) every ``postgres``
process, read from /proc over the measured window; each member's CPU in cores
and its run-queue wait (schedstat: runnable but no CPU); the machine's busy
share, ours and all processes' (/proc/stat) — together they tell whether the
machine, rather than the pool, is the limit. In claim mode also how many
copies each member received and dropped as claimed by another member, and the
time spent claiming (counted by wrappers in the member process; the server
code is unchanged), plus ``OperationalError``s and dead request tasks found in
the members' logs. With ``--spy`` one extra ``--spy-config`` measurement
records agent 0 with py-spy and splits its event-loop samples into database,
a2a-sdk, MQTT transport, our code and the loop.

Every wait is bounded: each request phase by ``--max-seconds``, the whole bench
by ``--deadline`` (no new measurement starts after it; what was measured is
still reported). Numbers: medians over ``--runs``; the machine is shared and
noisy, so read ratios and CPU per request, not absolute req/s.
"""


from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pool_bench.main import main

if __name__ == "__main__":
    main()
