"""What the registry records: ingest by change kind, rejects by reason, query latency.

Cards by status and change-feed subscribers are read from the index and the feed
when a reader collects (they are state, not events). Rejection reasons are free
text (they quote the card); :func:`reject_reason` folds them into a bounded set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sized
from typing import TYPE_CHECKING, Final, Protocol

from a2a_mqtt.observability import names as N

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics


# What this module reads of the registry, as protocols: observability sits below the
# registry in the layers (docs/architecture.md) and must not import it.
class _Rejection(Protocol):
    @property
    def reasons(self) -> tuple[str, ...]: ...


class _Change(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def rejection(self) -> _Rejection | None: ...


class _Index(Protocol):
    @property
    def fields(self) -> Mapping[str, Mapping[str, Sized]]: ...

    @property
    def rejected(self) -> Sized: ...


class _Feed(Protocol):
    @property
    def subscribers(self) -> int: ...


class RegistryView(Protocol):
    """The registry state the gauges read (``RegistryService`` is one)."""

    @property
    def index(self) -> _Index: ...

    @property
    def feed(self) -> _Feed: ...


__all__ = ["RegistryMetrics", "RegistryView", "reject_reason"]

STATUSES: Final = ("online", "offline", "unknown")


def reject_reason(reasons: tuple[str, ...]) -> str:
    """``signature`` | ``topic`` | ``size`` | ``encoding`` | ``json`` | ``schema``."""
    first = reasons[0] if reasons else ""
    if first.startswith("signature"):
        return "signature"
    if first.startswith("the discovery topic"):
        return "topic"
    if "exceeds the limit" in first:
        return "size"
    if "not UTF-8" in first or "surrogate" in first or "cannot be represented" in first:
        return "encoding"
    if "not JSON" in first or "nested too deeply" in first or "not an object" in first:
        return "json"
    return "schema"


class RegistryMetrics:
    def __init__(self, metrics: Metrics, service: Callable[[], RegistryView]) -> None:
        self.metrics = metrics
        self._ingests = metrics.sum(N.REGISTRY_INGESTS)
        self._rejects = metrics.sum(N.REGISTRY_REJECTS)
        self._queries = metrics.histogram(N.REGISTRY_QUERY_DURATION)
        self._service = service
        metrics.gauge(N.REGISTRY_CARDS, self._cards)
        metrics.gauge(N.REGISTRY_FEED_SUBSCRIBERS,
                      lambda: [((), float(self._service().feed.subscribers))])

    def _cards(self) -> Iterable[tuple[tuple[str, ...], float]]:
        index = self._service().index
        by_status = index.fields["status"]
        out = [((s,), float(len(by_status.get(s, ())))) for s in STATUSES]
        out.append((("rejected",), float(len(index.rejected))))
        return out

    def changes(self, changes: Iterable[_Change]) -> None:
        for change in changes:
            if change.kind == "rejected":
                rejection = change.rejection
                reasons = rejection.reasons if rejection is not None else ()
                self._rejects.add((reject_reason(reasons),))
            self._ingests.add((change.kind,))

    def query(self, kind: str, seconds: float) -> None:
        self._queries.record((kind,), seconds)
