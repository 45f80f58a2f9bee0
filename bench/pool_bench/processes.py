"""Member processes and the task store (PostgreSQL database or SQLite file) of one config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import uuid
from pathlib import Path

from pool_bench.settings import (
    READY_TIMEOUT,
    ROOT,
    SCRIPT,
    STOP_TIMEOUT,
    log,
)


class Member:
    """One agent process and its stdin/stdout control lines."""

    def __init__(
        self,
        ref: str,
        pool: str | None,
        store: str,
        *,
        broker: str,
        args: argparse.Namespace,
        log_dir: Path,
    ) -> None:
        self.ref = ref
        self.name = ref.rsplit("/", 1)[1]
        self.argv = [
            sys.executable,
            str(SCRIPT),
            "--serve",
            "--agent",
            ref,
            "--broker",
            broker,
            "--store",
            store,
            "--concurrency",
            str(args.concurrency),
            "--delay",
            str(args.delay),
            "--pool-dispatch",
            args.pool_dispatch,
            "--deadline",
            str(args.deadline),
        ]
        if pool:
            self.argv += ["--pool", pool]
        self.err_path = log_dir / f"{self.name}.err"
        self.proc: asyncio.subprocess.Process | None = None
        self.dispatch = ""

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
        )
        with open(self.err_path, "ab") as err:  # noqa: ASYNC230 - a local file, once
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=str(ROOT),
                env=env,
            )

    async def _line(self, prefix: str, timeout: float) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    tail = self.err_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{self.name} exited (waiting for {prefix}):\n{tail}")
                line = raw.decode().strip()
                if line.startswith(prefix):
                    return line[len(prefix) :].strip()

    async def ready(self) -> None:
        self.dispatch = await self._line("READY", READY_TIMEOUT)

    async def command(self, cmd: str, answer: str) -> str:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._line(answer, 30.0)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class Store:
    """A fresh shared task store for one measurement, removed afterwards."""

    def __init__(self, kind: str, tmp: Path, postgres: str) -> None:
        self.kind = kind
        self._tmp = tmp
        self._postgres = postgres
        self._dbname = ""
        self.url = ""

    async def create(self) -> str:
        if self.kind == "memory":
            self.url = "memory://"
        elif self.kind == "sqlite":
            path = self._tmp / f"pool-{uuid.uuid4().hex[:8]}.db"
            self.url = f"sqlite:///{path}"
        else:
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            self._dbname = f"a2a_pool_bench_{uuid.uuid4().hex[:10]}"
            conn = await asyncpg.connect(self._postgres, timeout=10)
            try:
                await conn.execute(f'CREATE DATABASE "{self._dbname}"')
            finally:
                await conn.close()
            base, _, _ = self._postgres.rpartition("/")
            self.url = f"{base}/{self._dbname}"
        return self.url

    async def drop(self) -> None:
        if self.kind == "sqlite":
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
        elif self.kind == "postgres" and self._dbname:
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            conn = await asyncpg.connect(self._postgres, timeout=10)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self._dbname}" WITH (FORCE)')
            finally:
                await conn.close()
            self._dbname = ""


async def postgres_reachable(dsn: str) -> str | None:
    """The server version if ``dsn`` accepts us and lets us create databases, else None."""
    try:
        import asyncpg  # type: ignore[import-untyped,unused-ignore]

        conn = await asyncpg.connect(dsn, timeout=3)
    except Exception as exc:
        log.warning("PostgreSQL at %s not reachable (%s): its rows are skipped", dsn, exc)
        return None
    try:
        can = await conn.fetchval(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    if not can:
        log.warning("PostgreSQL user may not CREATE DATABASE: its rows are skipped")
        return None
    return str(version)


# ===================================================================================
# One measurement
# ===================================================================================
