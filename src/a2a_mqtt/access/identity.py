"""Identities and grants: who connects to a secure broker, and what else it may reach.

An identity is a non-pool :class:`AgentRef` (``org/unit/name``) with one role. Its
MQTT username and its Client ID are both that reference (docs/binding.md §2.2), so
the broker can bind one to the other. A grant widens what an identity may call and
discover beyond its own organisation: a whole org, one unit, one agent or one pool.
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from a2a_mqtt.binding.topics import AgentRef, validate_identifier
from a2a_mqtt.errors import ConfigError

__all__ = ["ALL_ORGS", "ROLES", "Grant", "Identity", "Role", "parse_identities",
           "worker_login"]

_MAX_WORKERS = 64

Role = Literal["agent", "requester", "registry", "gateway", "dashboard", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
#: The grant text meaning "every organisation" (a global registry or dashboard).
ALL_ORGS: Final = "*"


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    """A scope outside the identity's own organisation: ``org``, ``org/unit``,
    ``org/unit/agent``, ``org/unit/pool/POOL``, or ``*`` for every organisation."""

    org: str
    unit: str | None = None
    target: AgentRef | None = None

    def __post_init__(self) -> None:
        if self.org == ALL_ORGS:
            if self.unit is not None or self.target is not None:
                raise ConfigError("the grant '*' takes no unit or agent")
            return
        validate_identifier(self.org, "grant org")
        if self.unit is not None:
            validate_identifier(self.unit, "grant unit")
        if self.target is not None and (self.target.org, self.target.unit) != (
                self.org, self.unit):
            raise ConfigError("a grant's target must lie in its org and unit")

    @classmethod
    def parse(cls, text: str) -> Grant:
        """Parse one of the four scope forms; raise :class:`ConfigError` otherwise."""
        parts = text.strip().split("/")
        if parts == [ALL_ORGS]:
            return cls(ALL_ORGS)
        if len(parts) == 1:
            return cls(parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        ref = AgentRef.parse(text)
        return cls(ref.org, ref.unit, ref)

    def __str__(self) -> str:
        if self.target is not None:
            return str(self.target)
        return self.org if self.unit is None else f"{self.org}/{self.unit}"


@dataclass(frozen=True, slots=True)
class Identity:
    """One broker login: ``ref`` is its username and its only permitted Client ID.

    ``pools`` (agents only) are the pools of its unit it serves; ``grants`` widen
    the default scope (its own organisation) for calls and discovery. ``workers``
    (agents only): the agent runs that many worker processes (``--workers N``), each
    logging in as ``{ref}.wK`` with the same password and rights, bound to that
    Client ID (:attr:`logins`).
    """

    ref: AgentRef
    role: Role
    pools: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    workers: int = 0

    def __post_init__(self) -> None:
        if self.ref.pool:
            raise ConfigError(f"an identity names one client, not a pool: {self.ref}")
        if self.role not in ROLES:
            raise ConfigError(f"unknown role {self.role!r}; choose from {', '.join(ROLES)}")
        for pool in self.pools:
            validate_identifier(pool, "pool id")
        if self.pools and self.role != "agent":
            raise ConfigError("only an agent identity serves pools")
        if not 0 <= self.workers <= _MAX_WORKERS:
            raise ConfigError(f"workers must be between 0 and {_MAX_WORKERS}")
        if self.workers and self.role != "agent":
            raise ConfigError("only an agent identity runs worker processes")

    @classmethod
    def parse(cls, ref: str, role: str, *, pools: tuple[str, ...] = (),
              grants: tuple[str, ...] = (), workers: int = 0) -> Identity:
        """Build an identity from CLI-style text; raise :class:`ConfigError` on bad input."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
        return cls(AgentRef.parse(ref), role, tuple(pools),
                   tuple(Grant.parse(g) for g in grants), workers)

    @property
    def logins(self) -> tuple[str, ...]:
        """Every username of this identity, each its own only Client ID: the identity's,
        then its workers' (``{ref}.w0`` ...), with the same password and rights."""
        return (self.username, *(worker_login(self.username, k) for k in range(self.workers)))

    @property
    def username(self) -> str:
        """The MQTT username (equal to the Client ID)."""
        return self.ref.client_id

    @property
    def client_id(self) -> str:
        """The one Client ID the broker accepts for this identity."""
        return self.ref.client_id


def worker_login(login: str, worker: int) -> str:
    """The username and Client ID of worker ``worker`` of the agent logging in as ``login``
    (the same as ``AgentConfig.client_id`` of that worker)."""
    return f"{login}.w{worker}"


def parse_identities(text: str) -> tuple[Identity, ...]:
    """Identities from TOML: ``[[identity]]`` tables with ``ref``, ``role`` and
    optional ``pools`` and ``grants`` lists and ``workers`` count. Raises
    :class:`ConfigError` with the offending entry's position."""
    import tomllib  # noqa: PLC0415 - only this loader needs it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"identities file is not valid TOML: {exc}") from None
    entries = data.get("identity", [])
    if not isinstance(entries, list):
        raise ConfigError("identities file: use [[identity]] tables")
    out: list[Identity] = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) - {"ref", "role", "pools", "grants",
                                                        "workers"}:
            raise ConfigError(f"identity #{n}: expected keys ref, role, pools, grants, workers")
        ref, role = entry.get("ref"), entry.get("role")
        pools, grants = entry.get("pools", []), entry.get("grants", [])
        workers = entry.get("workers", 0)
        if not (isinstance(ref, str) and isinstance(role, str) and _strings(pools)
                and _strings(grants) and type(workers) is int):
            raise ConfigError(f"identity #{n}: ref and role are strings, pools and grants "
                              "lists of strings, workers a number")
        try:
            out.append(Identity.parse(ref, role, pools=tuple(pools), grants=tuple(grants),
                                      workers=workers))
        except ConfigError as exc:
            raise ConfigError(f"identity #{n}: {exc}") from None
    return tuple(out)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
