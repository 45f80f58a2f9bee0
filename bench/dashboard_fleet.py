"""Dashboard fleet page at scale: N agents' cards on a real broker, a real Chromium.

One Mosquitto (``EmbeddedBroker``), one dashboard (in process, with its embedded
registry, real uvicorn), and N retained Agent Cards published the way agents
publish them (``prepare_card`` of the bundled examples, status ``online``). Then
Playwright drives Debian's chromium (``executable_path``; never a download):

* page ready: ``goto(#/fleet)`` until the first page of rows is rendered and the
  summary names all N matches (the list is paginated: 50 rows a page);
* filtering: type a query into the search field until the summary shows the
  filtered count (free text, skill, status; each run on a fresh value);
* next page: press "Next" until page 2's rows are in.

Each figure is the median of ``--rounds`` runs in this one process; the machine is
shared and noisy, so the figures are indicative.

    .venv/bin/python bench/dashboard_fleet.py --agents 1000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card, prepare_card
from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.broker import EmbeddedBroker
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
from a2a_mqtt.examples import EXAMPLES
from a2a_mqtt.transport import BrokerURL, ConnectOptions
from a2a_mqtt.transport.base import PublishProperties, default_transport


async def publish_cards(url: str, n: int) -> None:
    transport = default_transport(ConnectOptions(url=BrokerURL.parse(url),
                                                 client_id="bench-dashboard-publisher"))
    await transport.connect()
    names = list(EXAMPLES)
    props = PublishProperties(user_properties=P.status_properties("online", "agent"))
    try:
        sends = []
        for i in range(n):
            example = EXAMPLES[names[i % len(names)]]
            ref = AgentRef(f"org{i % 4}", f"unit{i % 25}", f"agent-{i:05d}")
            card = prepare_card(example.card(), ref=ref, broker_url=url)
            sends.append(transport.publish(discovery_topic(ref), encode_card(card), qos=1,
                                           retain=True, properties=props))
            if len(sends) >= 200:
                await asyncio.gather(*sends)
                sends = []
        await asyncio.gather(*sends)
    finally:
        await transport.disconnect()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from playwright.async_api import async_playwright, expect

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    async with EmbeddedBroker() as broker:
        started = time.perf_counter()
        await publish_cards(broker.url, args.agents)
        published = time.perf_counter() - started
        config = DashboardConfig(connection=ConnectionSettings(url=broker.url), port=0)
        async with DashboardServer(config) as dash, \
                async_playwright() as pw:
            stats = dash.registry.service.index.stats()
            print(f"agents     {stats['entries']} indexed by the embedded registry "
                  f"(published in {published:.2f} s)")
            browser = await pw.chromium.launch(executable_path=chromium, headless=True,
                                               args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            summary = page.locator("#fleet-summary")
            total = f"{args.agents} matches"
            ready, filtering, paging = [], [], []
            for r in range(args.rounds):
                await page.goto("about:blank")
                t0 = time.perf_counter()
                await page.goto(f"{dash.url}/#/fleet")
                await expect(summary).to_contain_text(total, timeout=30_000)
                await expect(page.locator("tr[data-ref]")).to_have_count(50)
                ready.append(time.perf_counter() - t0)
                search = page.get_by_label("Search")
                for query, field in ((f"agent-{r:03d}", search),
                                     ("echo", page.get_by_label("Skill"))):
                    t0 = time.perf_counter()
                    await field.fill(query)
                    await expect(summary).not_to_contain_text(total)
                    filtering.append(time.perf_counter() - t0)
                    await field.fill("")
                    await expect(summary).to_contain_text(total)
                t0 = time.perf_counter()
                await page.get_by_role("button", name="Next").click()
                await expect(summary).to_contain_text("showing 51")
                await expect(page.locator("tr[data-ref]")).to_have_count(50)
                paging.append(time.perf_counter() - t0)
            await browser.close()
    med = statistics.median
    print(f"page ready median {med(ready) * 1000:.0f} ms  (max {max(ready) * 1000:.0f} ms, "
          f"{len(ready)} rounds; goto -> 50 rows and '{total}')")
    print(f"filter     median {med(filtering) * 1000:.0f} ms  (max "
          f"{max(filtering) * 1000:.0f} ms, {len(filtering)} edits incl. the 200 ms typing "
          f"debounce)")
    print(f"next page  median {med(paging) * 1000:.0f} ms  ({len(paging)} rounds)")


if __name__ == "__main__":
    asyncio.run(main())
