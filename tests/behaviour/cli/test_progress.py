"""``send --stream`` on a terminal shows a progress line through silence; piped, it
prints whole event lines only (scripts never see carriage returns)."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import sys

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from tests.behaviour.cli.test_cli import cli
from tests.behaviour.conftest import serve

pytestmark = pytest.mark.asyncio


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_progress_on_a_terminal_plain_lines_when_piped(broker: MosquittoProcess,
                                                             ref: AgentRef) -> None:
    args = ["send", str(ref), "quiet", "--broker", broker.url, "--stream",
            "--metadata", '{"delay": 2.5}']
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        master, slave = pty.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "a2a_mqtt", *args, stdin=asyncio.subprocess.DEVNULL,
                stdout=slave, stderr=asyncio.subprocess.PIPE)
            os.close(slave)
            slave = -1
            tty_out = (await asyncio.wait_for(asyncio.to_thread(_read_all, master), 60)
                       ).decode()
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            os.close(master)
            if slave != -1:
                os.close(slave)
        code, piped, err = await cli(*args)
    assert proc.returncode == 0
    # The silent 2.5 s tick on the terminal, in place, and are wiped before the next event.
    assert re.search(r"\r\x1b\[2K… WORKING: 2 event\(s\), silent for \ds", tty_out), tty_out
    assert "\r\x1b[2K[artifact echo] quiet" in tty_out
    assert tty_out.rstrip().endswith("[status] COMPLETED")
    assert code == 0, err
    assert "\r" not in piped and "silent for" not in piped
    assert piped.splitlines()[1:] == ["[status] WORKING echoing", "[artifact echo] quiet",
                                      "[status] COMPLETED"]
