"""The dashboard in a real Chromium, against a real broker, registry and agents.

Each test awaits what the page shows (Playwright's auto-waiting ``expect``),
never a fixed sleep; each saves a screenshot under test-artifacts/dashboard/.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.transport import BrokerURL, ConnectOptions
from a2a_mqtt.transport.base import PublishProperties, default_transport
from tests.behaviour.dashboard.conftest import Fleet

pytestmark = pytest.mark.asyncio


def row(page: Any, ref: AgentRef) -> Any:
    return page.locator(f'tr[data-ref="{ref}"]')


async def test_agent_appears_live_and_goes_offline_after_kill_9(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    await fleet.agent("greeter")
    await page.goto(f"{fleet.url}/#/fleet")
    await expect(page.locator("#fleet-summary")).to_contain_text("1 match")
    await expect(page.locator("#feed-state")).to_have_text("live")
    ref, proc = fleet.process_agent("echo", "worker")
    # No reload: the row arrives through the registry's change feed.
    await expect(row(page, ref).locator(".badge")).to_contain_text("online", timeout=30_000)
    await page.screenshot(path=screenshots / "fleet.png", full_page=True)
    os.kill(proc.pid, signal.SIGKILL)
    # The broker publishes the agent's will (its card, offline) when the socket drops.
    await expect(row(page, ref).locator(".badge")).to_contain_text("offline", timeout=10_000)
    await expect(row(page, ref).locator(".badge")).to_contain_text("lwt")
    await page.screenshot(path=screenshots / "fleet-offline.png", full_page=True)
    # The tree narrows to one unit; a filter that matches nothing says so.
    await page.get_by_role("button", name=f"Show only unit fleet/{fleet.prefix}").click()
    await expect(page.get_by_role("textbox", name="Unit")).to_have_value(fleet.prefix)
    await expect(page.locator("#fleet-summary")).to_contain_text("2 matches")
    await page.get_by_label("Tag").fill("no-such-tag")
    await expect(page.locator("#fleet-summary")).to_have_text("No agent matches.")


async def test_echo_streams_the_artifact_and_the_wire_shows_the_method(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    ref = await fleet.agent("echo")
    await page.goto(f"{fleet.url}/#/agent/{ref}")
    await expect(page.locator("#card-h")).to_be_visible()
    await expect(page.locator(".skill")).to_contain_text("Returns the input text.")
    await page.get_by_label("Text", exact=True).fill("hello over mqtt")
    await page.get_by_role("button", name="Send").click()
    log = page.locator("#chat-log")
    await expect(log.locator("li.artifact")).to_contain_text("hello over mqtt")
    await expect(log.locator("li.status.completed")).to_be_visible()
    await expect(page.locator("#wire .wire-method").first).to_have_text(
        "→ SendStreamingMessage")
    await page.locator("#wire details").first.locator("summary").click()
    request = page.locator("#wire pre").first
    await expect(request).to_contain_text('"method": "SendStreamingMessage"')
    await expect(page.locator("#wire pre").first).to_contain_text("responseTopic")
    await page.screenshot(path=screenshots / "agent-chat.png", full_page=True)


async def test_greeter_multi_turn_completes(fleet: Fleet, page: Any, screenshots: Path) -> None:
    ref = await fleet.agent("greeter")
    await page.goto(f"{fleet.url}/#/agent/{ref}")
    text = page.get_by_label("Text", exact=True)
    await text.fill("hi")
    await page.get_by_role("button", name="Send").click()
    log = page.locator("#chat-log")
    await expect(log.locator("li.status.input-required")).to_contain_text("What is your name?")
    await expect(page.locator("#task-line")).to_contain_text("your next message continues it")
    await text.fill("Ada")
    await page.get_by_role("button", name="Send").click()
    await expect(log.locator("li.artifact")).to_contain_text("Hello, Ada!")
    await expect(log.locator("li.status.completed")).to_be_visible()
    # The agent's own task list (ListTasks) knows the finished conversation.
    await page.get_by_role("button", name="Ask the agent for its tasks").click()
    await expect(page.locator("#remote-tasks li").first).to_contain_text("completed")
    await page.screenshot(path=screenshots / "greeter.png", full_page=True)


async def test_a_slow_task_is_cancelled_from_the_page(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    ref = await fleet.agent("echo", "slow")
    await page.goto(f"{fleet.url}/#/agent/{ref}")
    await page.get_by_label("Text", exact=True).fill("take your time")
    await page.get_by_label("Metadata (JSON, optional)").fill('{"delay": 30}')
    await page.get_by_role("button", name="Send").click()
    log = page.locator("#chat-log")
    await expect(log.locator("li.status.working")).to_be_visible()
    cancel = page.get_by_role("button", name="Cancel task")
    await expect(cancel).to_be_enabled()
    await cancel.click()
    await expect(log.locator("li.status.canceled").first).to_be_visible()
    await expect(page.locator("#task-line")).to_contain_text("canceled")
    await expect(log.locator("li.artifact")).to_have_count(0)
    await expect(page.locator("#wire .wire-method", has_text="CancelTask")).to_have_count(1)
    await page.screenshot(path=screenshots / "cancel.png", full_page=True)


async def test_an_invalid_card_shows_its_rejection_reason(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    bad = AgentRef("fleet", fleet.prefix, "broken")
    await page.goto(f"{fleet.url}/#/fleet")
    await expect(page.locator("#feed-state")).to_have_text("live")
    transport = default_transport(ConnectOptions(url=BrokerURL.parse(fleet.broker.url),
                                                 client_id=f"{fleet.prefix}-publisher"))
    await transport.connect()
    try:
        await transport.publish(discovery_topic(bad), b'{"name": 5}', qos=1, retain=True,
                                properties=PublishProperties(
                                    user_properties=P.status_properties("online", "agent")))
    finally:
        await transport.disconnect()
    rejected = page.locator(f'#rejected tr[data-topic="{discovery_topic(bad)}"]')
    await expect(rejected).to_contain_text(str(bad))
    await expect(rejected).to_contain_text("'description' is a required property")
    await page.screenshot(path=screenshots / "rejected.png", full_page=True)


async def test_bad_references_and_other_pages_say_so(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    await page.goto(f"{fleet.url}/#/agent/not-a-ref")
    await expect(page.locator("#agent-error")).to_contain_text("not an agent reference")
    await page.goto(f"{fleet.url}/#/agent/fleet/nowhere/nobody")
    await expect(page.locator("#agent-error")).to_contain_text("Unknown agent")
    await page.goto(f"{fleet.url}/#/metrics")
    await expect(page.locator("#metrics-none")).to_contain_text("no metrics endpoint")
    await page.screenshot(path=screenshots / "metrics-none.png", full_page=True)
    await page.goto(f"{fleet.url}/#/broker")
    await expect(page.locator(".facts.big")).to_contain_text("mosquitto", timeout=15_000)
    await page.screenshot(path=screenshots / "broker.png", full_page=True)
    # Keyboard: the nav and the search field are reachable with Tab.
    await page.goto(f"{fleet.url}/#/fleet")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.locator("nav a").first).to_be_focused()
    assert await page.get_by_label("Search").count() == 1
    await asyncio.sleep(0)


async def test_files_both_ways_and_resubscribe_to_a_running_task(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    ref = await fleet.agent("showcase")
    await page.goto(f"{fleet.url}/#/agent/{ref}")
    log = page.locator("#chat-log")
    text = page.get_by_label("Text", exact=True)
    await text.fill("parts")
    await page.get_by_label("Files").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"a file from the page"}])
    await page.get_by_role("button", name="Send").click()
    download = log.get_by_role("link", name="Download output.txt")
    await expect(download).to_be_visible()
    async with page.expect_download() as info:
        await download.click()
    saved = await (await info.value).path()
    assert Path(saved).read_bytes() == b"tck"
    await expect(log.locator("pre.part.data").first).to_be_visible()
    await expect(page.locator("#wire pre").first).to_contain_text("notes.txt", use_inner_text=False)
    await page.screenshot(path=screenshots / "files.png", full_page=True)
    # A running task: leave its stream, then resubscribe from the page.
    await page.get_by_role("button", name="New conversation").click()
    await text.fill("slow 2")
    await page.get_by_role("button", name="Send").click()
    await expect(log.locator("li.status.working")).to_be_visible()
    await page.get_by_role("button", name="Resubscribe", exact=True).click()
    await expect(log.locator("li.call", has_text="SubscribeToTask")).to_be_visible()
    await expect(log.locator("li.status.completed")).to_be_visible(timeout=15_000)
    await expect(page.locator("#wire .wire-method", has_text="SubscribeToTask")).to_have_count(1)


async def test_metrics_pages_chart_the_exported_series(
        broker: Any, tmp_path: Path, screenshots: Path) -> None:
    """A real HTTP endpoint serving series under the names the dashboard derives from
    a2a_mqtt/observability/names.py, counters growing between scrapes (test_metrics.py
    scrapes real agent and registry processes)."""
    import uvicorn
    from playwright.async_api import async_playwright
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from a2a_mqtt._net import listen_socket
    from a2a_mqtt._uvicorn import EmbeddedUvicorn
    from a2a_mqtt.connection import ConnectionSettings
    from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
    from a2a_mqtt.dashboard import metrics as D
    from tests.behaviour.dashboard.conftest import chromium_path

    scrapes = {"n": 0}

    async def metrics(request: Any) -> PlainTextResponse:
        scrapes["n"] += 1
        n = 100 + 40 * scrapes["n"]
        a, o, b = D.AGENT, D.OUTCOME, f"{D.DURATION}_bucket"
        return PlainTextResponse(
            f'{D.REQUESTS}{{{a}="echo",{o}="ok"}} {n}\n'
            f'{D.REQUESTS}{{{a}="echo",{o}="error"}} 5\n'
            f'{b}{{{a}="echo",le="0.005"}} {n // 2}\n'
            f'{b}{{{a}="echo",le="0.05"}} {n + 5}\n'
            f'{b}{{{a}="echo",le="+Inf"}} {n + 5}\n'
            f'{D.REGISTRY_CARDS}{{{D.STATUS}="online"}} 1\n')

    sock = listen_socket("127.0.0.1", 0)
    server = EmbeddedUvicorn(uvicorn.Config(Starlette(routes=[Route("/metrics", metrics)]),
                                            lifespan="off", log_config=None))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    await server.listening.wait()
    port = sock.getsockname()[1]
    try:
        async with DashboardServer(DashboardConfig(
                connection=ConnectionSettings(url=broker.url), port=0,
                metrics_urls=(f"http://127.0.0.1:{port}/metrics",))) as dash, \
                async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path(),
                                               args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            await page.goto(f"{dash.url}/#/metrics?every=1")
            echo = page.locator('#metrics-agents tr[data-agent="echo"]')
            await expect(echo.locator("td").nth(1)).to_contain_text("/s", timeout=15_000)
            await expect(echo).to_contain_text("ms")
            await expect(page.locator("#metrics-body")).to_contain_text("cards online")
            await page.screenshot(path=screenshots / "metrics.png", full_page=True)
            await browser.close()
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_person_signs_in_before_sending(broker: Any, screenshots: Path) -> None:
    from playwright.async_api import async_playwright

    from a2a_mqtt.connection import ConnectionSettings
    from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
    from a2a_mqtt.examples import EXAMPLES
    from tests.behaviour.conftest import serve
    from tests.behaviour.dashboard.conftest import chromium_path

    token = "sign-in-token-for-the-page"
    ex = EXAMPLES["echo"]
    async with serve(broker.url, "fleet/signin/echo", ex.executor(), ex.card()), \
            DashboardServer(DashboardConfig(connection=ConnectionSettings(url=broker.url), port=0,
                                            access_token=token)) as dash, \
            async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(),
                                           args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        await page.goto(f"{dash.url}/#/agent/fleet/signin/echo")
        await expect(page.get_by_role("note")).to_contain_text("Sign in")
        await expect(page.get_by_role("button", name="Send")).to_be_disabled()
        await page.get_by_label("Password or access token").fill("wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#toast")).to_contain_text("wrong password or token")
        await page.get_by_label("Password or access token").fill(token)
        await page.keyboard.press("Enter")
        await expect(page.locator("#session")).to_contain_text("signed in")
        await page.get_by_label("Text", exact=True).fill("after sign-in")
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator("#chat-log li.artifact")).to_contain_text("after sign-in")
        await page.screenshot(path=screenshots / "signed-in.png")
        await browser.close()


async def test_an_image_artifact_is_shown_and_downloadable(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    import base64

    from a2a.helpers import new_task_from_user_message
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.tasks import TaskUpdater
    from a2a.types.a2a_pb2 import Part

    from a2a_mqtt.examples.basic import echo_card
    from tests.behaviour.conftest import serve

    # A 1x1 red PNG.
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8Dw"
                           "HwAFBQIAX8jx0gAAAABJRU5ErkJggg==")

    class Painter(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            await updater.add_artifact([Part(raw=png, media_type="image/png",
                                             filename="dot.png")], name="picture")
            await updater.complete()

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            return None

    ref = AgentRef("fleet", fleet.prefix, "painter")
    await fleet.stack.enter_async_context(serve(fleet.broker.url, ref, Painter(), echo_card()))
    await page.goto(f"{fleet.url}/#/agent/{ref}")
    await page.get_by_label("Text", exact=True).fill("paint")
    await page.get_by_role("button", name="Send").click()
    image = page.locator("#chat-log img.artifact-image")
    await expect(image).to_have_attribute("alt", "dot.png")
    assert await image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1
    await expect(page.get_by_role("link", name="Download dot.png")).to_be_visible()


async def test_a_tasks_trace_arrives_over_otlp_and_shows_as_a_call_tree(
        fleet: Fleet, page: Any, screenshots: Path) -> None:
    # The agent, its own process, exports its spans to the dashboard (OTLP/HTTP).
    ref, _ = fleet.process_agent("echo", "traced", "--otlp-endpoint", fleet.url)
    await page.goto(f"{fleet.url}/#/fleet")
    await expect(row(page, ref).locator(".badge")).to_contain_text("online", timeout=30_000)
    await page.goto(f"{fleet.url}/#/agent/{ref}")
    await page.get_by_label("Text", exact=True).fill("trace me")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#chat-log li.status.completed")).to_be_visible()
    await page.get_by_role("link", name="its trace").click()
    # The exporter batches (every 100 ms here); the page polls until the trace is in.
    tree = page.locator("#trace-tree")
    await expect(tree.locator(".span").first).to_contain_text("a2a/SendStreamingMessage",
                                                                timeout=20_000)
    await expect(tree.locator(".span")).not_to_have_count(1)  # the executor's child span
    await expect(tree).to_contain_text("task ")
    await page.screenshot(path=screenshots / "traces.png", full_page=True)
