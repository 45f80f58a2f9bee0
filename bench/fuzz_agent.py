"""The long adversarial run against one echo agent (issue #9; docs/reliability.md).

Usage::

    python bench/fuzz_agent.py --requests 100000 --store memory
    python bench/fuzz_agent.py --requests 100000 --store sqlite
    python bench/fuzz_agent.py --requests 100000 --store postgres   # throwaway database

One Mosquitto; the echo agent runs as a *subprocess* (``a2a-mqtt example echo``,
logging at WARNING to a file) so its crashes, log and RSS are measurable. The
:class:`~a2a_mqtt.examples.fuzzcheck.FuzzRig` sends a 1,000-case warm-up, then
``--requests`` hostile cases in batches with a health request after each
batch, every wait bounded. Printed, each of which must be 0: crashes, hangs,
missing answers, streams with more than one end marker, items after an end
marker, publishes outside ``$a2a/v1/reply/``, connection drops, unhandled
exceptions in the agent's log (asyncio's "never retrieved" and callback errors,
and anything our own code logs at ERROR; a2a-sdk's own ERROR lines about an
executor's failure, which it answers, are listed by logger beside). Then RSS
after the warm-up against RSS after the run, and a restart on the same store
(SIGTERM, start again, health request, SIGTERM: clean means exit codes 0 and
nothing at ERROR in its log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess
from a2a_mqtt.examples.fuzzcheck import FuzzRig, Tally
from harness.memory import rss_kib  # bench/ is the script's directory: on sys.path
from harness.stores import store_url

AGENT = AgentRef("fuzz", "bench", "echo")
MAX_PAYLOAD = 1_048_576  # the agent's default max_payload_bytes
# Unhandled or unanswered failures as they appear in the agent's log.
UNHANDLED = re.compile(r"Task exception was never retrieved|Exception in callback|"
                       r"Unhandled exception|outside its reply path|background \w+ failed|"
                       r"could not be published|cannot be encoded|ERROR a2a_mqtt")
ERROR_LINE = re.compile(r" ERROR ([\w.]+):")
DROPS = re.compile(r"connection to .* lost")


def rss_mb(pid: int) -> float:
    kib = rss_kib(pid)
    return float("nan") if kib is None else kib / 1024


class AgentProcess:
    """``a2a-mqtt example echo`` as a child process, its stderr in ``log``."""

    def __init__(self, broker_url: str, store: str, log: Path) -> None:
        self.log = log
        self.args = [sys.executable, "-m", "a2a_mqtt", "example", "echo", "--agent", str(AGENT),
                     "--broker", broker_url, "--task-store", store, "--session-expiry", "3600"]
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, env=env)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (a graceful stop); the exit code, or None if it had to be killed."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None

    def new_log(self) -> str:
        """The log written since the last call."""
        text = self.log.read_text(errors="replace")
        new, self._offset = text[self._offset:], len(text)
        return new


async def wait_ready(rig: FuzzRig, agent: AgentProcess, timeout: float = 60.0) -> None:
    """Until a health request is answered (the agent is connected and subscribed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not agent.alive():
            raise RuntimeError(f"the agent exited at start; see {agent.log}")
        if await rig.health(timeout=2.0):
            rig.tally.hangs = 0  # probes before the agent is up are not hangs
            rig.tally.health_checks = 0
            return
    raise RuntimeError(f"the agent never answered a health request; see {agent.log}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="fuzz-agent-"))
    broker = MosquittoProcess(config=BrokerConfig(state_dir=work / "broker"))
    broker.start()
    report: dict[str, Any] = {"store": args.store, "requests": args.requests, "seed": args.seed}
    try:
        async with store_url(args.store, work, args.postgres_dsn, prefix="a2a_mqtt_fuzz") as url:
            agent = AgentProcess(broker.url, url, work / "agent.log")
            report.update(await fuzz(args, broker.url, agent))
            report.update(await restart(broker.url, agent))
    finally:
        broker.stop()
    report["log"] = str(work / "agent.log")
    return report


async def fuzz(args: argparse.Namespace, url: str, agent: AgentProcess) -> dict[str, Any]:
    agent.start()
    started = time.monotonic()
    async with FuzzRig(broker_url=url, agent=AGENT, seed=args.seed, max_payload=MAX_PAYLOAD,
                       window=args.window) as rig:
        await wait_ready(rig, agent)
        for _ in range(args.warmup // args.batch):
            await rig.batch(args.batch)
        rss_warm = rss_mb(agent.pid)
        crashes = 0
        done = 0
        t0 = time.monotonic()
        while done < args.requests:
            count = min(args.batch, args.requests - done)
            await rig.batch(count)
            done += count
            if not agent.alive():
                crashes += 1
                break
            if done % args.progress < count:
                rate = done / (time.monotonic() - t0)
                print(f"  {done:>7} cases  {rate:6.0f}/s  RSS {rss_mb(agent.pid):6.1f} MB  "
                      f"failures {sum(rig.tally.failures().values())}", flush=True)
        tally = await rig.settle()
        rss_end = rss_mb(agent.pid) if agent.alive() else float("nan")
        elapsed = time.monotonic() - t0
    code = agent.stop()
    log = agent.new_log()
    return {
        "crashes": crashes + (code is None or code not in (0, -signal.SIGTERM)),
        "exit_code": code,
        **tally.failures(),
        "unhandled_exceptions": len(UNHANDLED.findall(log)),
        "log_drops": len(DROPS.findall(log)),
        "log_errors": dict(Counter(ERROR_LINE.findall(log))),
        "refused_reply_topics": log.count("refused, not answered"),
        "rss_warm_mb": round(rss_warm, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_pct": round(100 * (rss_end - rss_warm) / rss_warm, 1),
        "seconds": round(elapsed, 1),
        "rate_per_s": round(args.requests / elapsed),
        "total_seconds": round(time.monotonic() - started, 1),
        "tally": _summary(tally),
    }


def _summary(tally: Tally) -> dict[str, Any]:
    return {"sent": tally.sent, "owed": tally.owed, "answered": tally.answered,
            "health_checks": tally.health_checks, "overloaded": tally.overloaded,
            "kinds": dict(tally.kinds), "codes": {str(k): v for k, v in tally.codes.items()},
            "outside_topics": dict(tally.outside_topics)}


async def restart(url: str, agent: AgentProcess) -> dict[str, Any]:
    """Start again on the same store, answer a health request, stop: all clean?"""
    agent.start()
    async with FuzzRig(broker_url=url, agent=AGENT, seed=0, max_payload=MAX_PAYLOAD) as rig:
        try:
            await wait_ready(rig, agent)
            healthy = await rig.health()
        except RuntimeError:
            healthy = False
    code = agent.stop()
    log = agent.new_log()
    errors = ERROR_LINE.findall(log)
    leftover = re.search(r"failed (\d+) task\(s\) its previous run left unfinished", log)
    return {"restart_healthy": healthy, "restart_exit_code": code,
            "restart_errors": len(errors),
            "restart_recovered_turns": int(leftover.group(1)) if leftover else 0,
            "restart_clean": healthy and code == 0 and not errors}


def print_report(r: dict[str, Any]) -> None:
    rows = [("crashes", r["crashes"]), ("hangs (health requests unanswered)", r["hangs"]),
            ("missing answers", r["missing"]), ("streams with >1 end marker", r["multi_terminal"]),
            ("items after end of stream", r["after_end"]),
            ("publishes outside $a2a/v1/reply/", r["outside"]),
            ("connection drops (will fired)", r["drops"]),
            ("connection drops (agent log)", r["log_drops"]),
            ("unhandled exceptions (agent log)", r["unhandled_exceptions"]),
            ("Correlation Data not echoed", r["bad_correlation"]),
            ("-32603 answers", r["internal_errors"])]
    print(f"\nstore={r['store']} requests={r['requests']} seed={r['seed']}  "
          f"({r['rate_per_s']}/s, {r['seconds']} s; shared, noisy 2-core machine)")
    for name, value in rows:
        print(f"  {name:<40} {value}")
    print(f"  {'RSS after warm-up / after run':<40} {r['rss_warm_mb']} / {r['rss_end_mb']} MB "
          f"({r['rss_growth_pct']:+.1f} %)")
    print(f"  {'restart on the same store':<40} "
          f"{'clean' if r['restart_clean'] else 'NOT CLEAN'} (exit {r['restart_exit_code']}, "
          f"{r['restart_errors']} errors, {r['restart_recovered_turns']} turns recovered)")
    t = r["tally"]
    print(f"  owed {t['owed']}, answered {t['answered']} (+{t['health_checks']} health), "
          f"overload answers {t['overloaded']}, refused Response Topics "
          f"{r['refused_reply_topics']}, ERROR lines in agent log {r['log_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--store", choices=("memory", "sqlite", "postgres"), default="memory")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--window", type=int, default=64, help="owed answers in flight")
    parser.add_argument("--progress", type=int, default=10_000)
    parser.add_argument("--postgres-dsn", default=os.environ.get(
        "A2A_MQTT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
