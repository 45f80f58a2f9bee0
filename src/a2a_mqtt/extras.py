"""Which optional extra provides which library, and the one-line error when one is missing.

Core (``pip install a2a-mqtt``) is what a client needs; serving, databases, HTTP,
MCP, workflows and the command are extras (pyproject.toml). Modules that need an
extra import it at their top, and are themselves imported only when used (the
CLI's commands and the package facade import lazily), so a missing extra shows
up as :class:`ModuleNotFoundError` at first use. :func:`missing_extra` turns that
into :class:`MissingExtraError` naming what to install; the CLI prints it as one
line and exits 1, the facade raises it.
"""

from __future__ import annotations

from typing import Final

from a2a_mqtt.errors import ConfigError

__all__ = ["CAPABILITY_EXTRA", "EXTRA_OF", "MissingExtraError", "missing_extra"]

#: Top-level import name -> the extras that install it (first: the usual one).
EXTRA_OF: Final[dict[str, tuple[str, ...]]] = {
    "sqlalchemy": ("server", "sql"),
    "aiosqlite": ("sql",),
    "asyncpg": ("sql",),
    "uvloop": ("server", "cli"),
    "uvicorn": ("gateway", "registry", "dashboard", "observability"),
    "starlette": ("gateway", "registry", "dashboard"),
    "sse_starlette": ("gateway", "registry"),
    "mcp": ("mcp",),
    "mcp_types": ("mcp",),
    "yaml": ("workflows",),
    "click": ("cli",),
    "prometheus_client": ("observability",),
    # The API is core; what can be missing is the SDK and exporters (configure_tracing,
    # metrics).
    "opentelemetry": ("tracing", "observability"),
}


#: The extra a capability (a folder under src/a2a_mqtt/) needs as a whole: the one to
#: name when its code fails to import, whichever library was missing first.
CAPABILITY_EXTRA: Final[dict[str, str]] = {
    "server": "server", "gateway": "gateway", "registry": "registry", "mcp": "mcp",
    "workflows": "workflows", "dashboard": "dashboard",
}


class MissingExtraError(ConfigError, ImportError):
    """A feature was used whose optional dependencies are not installed."""

    def __init__(self, module: str, extras: tuple[str, ...]) -> None:
        wanted = " or ".join(f"'a2a-mqtt[{extra}]'" for extra in extras)
        super().__init__(f"this needs {module}, which is not installed: "
                         f"pip install {wanted} (or 'a2a-mqtt[all]')")
        self.module = module
        self.extras = extras


def missing_extra(exc: ImportError, *, extra: str | None = None) -> MissingExtraError | None:
    """The extra behind a failed import, or None when it is not an optional library;
    ``extra`` names the one the caller's feature needs as a whole."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    extras = EXTRA_OF.get(name)
    if not extras:
        return None
    return MissingExtraError(name, (extra,) if extra is not None else extras)
