"""A small official-SDK ``MCPServer`` for demos, tests and benchmarks.

Tools ``add``, ``echo``, ``word_count`` and ``learn`` (which registers a new
tool and announces the change), a resource ``example://motd`` and a prompt
``review``. ``a2a-mqtt mcp serve-example`` serves it over MQTT; run as a
module (``python -m a2a_mqtt.mcp.example_server``) it speaks stdio, which is
what the bridge tests expose.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer

__all__ = ["build_example_server"]


def build_example_server(name: str = "a2a-mqtt-example") -> MCPServer:
    server: MCPServer = MCPServer(name, instructions="Arithmetic and text helpers.")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Return the text unchanged.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Count the words in a text.")
    def word_count(text: str) -> int:
        return len(text.split())

    @server.tool(description="Register a tool that returns a fixed answer, then announce it.")
    async def learn(name: str, answer: str, ctx: Context[Any, Any]) -> str:
        def fixed() -> str:
            return answer

        server.add_tool(fixed, name=name, description=f"Always answers {answer!r}.")
        await ctx.session.send_tool_list_changed()
        return f"learned {name}"

    @server.resource("example://motd", name="motd", mime_type="text/plain")
    def motd() -> str:
        return "Tools travel over MQTT today."

    @server.prompt(description="Ask for a review of some code.")
    def review(code: str) -> str:
        return f"Please review this code:\n\n{code}"

    return server


if __name__ == "__main__":
    build_example_server().run("stdio")
