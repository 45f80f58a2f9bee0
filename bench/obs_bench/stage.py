"""What both observability benches run against: one private Mosquitto and one OTLP/HTTP
sink process (a real HTTP/1.1 server that reads each POST and answers 200 without
parsing it, as a collector on another machine would cost nothing here)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

BASE = "@baseline"
"""The suffix that marks a variant run with ``a2a_mqtt`` from a ``--baseline`` tree."""

SINK = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@asynccontextmanager
async def stage(prefix: str) -> AsyncIterator[tuple[str, str, Path]]:
    """The broker's URL, the sink's traces URL and a scratch directory (the broker's
    state is in it); all of them gone on exit."""
    from a2a_mqtt.broker import BrokerConfig, MosquittoProcess

    sink = await asyncio.create_subprocess_exec(sys.executable, "-c", SINK,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert sink.stdout is not None
        port = (await sink.stdout.readline()).decode().strip()
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            broker = MosquittoProcess(config=BrokerConfig(state_dir=Path(tmp) / "broker"))
            broker.start()
            try:
                yield broker.url, f"http://127.0.0.1:{port}/v1/traces", Path(tmp)
            finally:
                broker.stop()
    finally:
        sink.terminate()
        await sink.wait()
