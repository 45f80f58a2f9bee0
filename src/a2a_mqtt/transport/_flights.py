"""Outgoing QoS 1 and 2 publishes: packet identifiers and the in-flight window.

Pure session bookkeeping (no I/O): the transport asks what to send and sends it.

Invariants:

* A packet identifier is in use from the moment a PUBLISH (or SUBSCRIBE,
  UNSUBSCRIBE) gets it until its flow ends; :class:`PacketIds` never hands out
  one in use, and runs out only when all 65535 are.
* At most ``window`` publishes are in flight (sent, flow not ended): the
  broker's Receive Maximum, capped by ours (MQTT 5 section 4.9). The rest wait
  in submission order and are admitted, oldest first, as flows end.
* In-flight publishes keep their identifiers across reconnects, in sending
  order, so they are re-sent (DUP) as MQTT 5 section 4.4 requires; a QoS 2
  publish whose PUBREC came is ``released`` and is re-sent as PUBREL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

from a2a_mqtt.errors import TransportError
from a2a_mqtt.transport.base import PublishProperties

__all__ = ["Flight", "Outbox", "PacketIds"]

_MAX_ID = 65535


class PacketIds:
    """Allocates MQTT packet identifiers (1..65535) not in use."""

    __slots__ = ("_next", "_used")

    def __init__(self) -> None:
        self._next = 1
        self._used: set[int] = set()

    def take(self) -> int:
        """A free identifier, now in use; :class:`TransportError` if none is free."""
        used = self._used
        if len(used) >= _MAX_ID:
            raise TransportError("every MQTT packet identifier is in use")
        pid = self._next
        while pid in used:
            pid = pid % _MAX_ID + 1
        used.add(pid)
        self._next = pid % _MAX_ID + 1
        return pid

    def release(self, pid: int) -> None:
        """``pid``'s flow ended (releasing a free identifier does nothing)."""
        self._used.discard(pid)

    def __len__(self) -> int:
        return len(self._used)


@dataclass(slots=True, eq=False)
class Flight:
    """One QoS 1 or 2 publish and the caller waiting for its outcome."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: PublishProperties | None
    future: asyncio.Future[int]
    packet_id: int = 0
    released: bool = False  # QoS 2: PUBREC came, PUBREL sent, PUBCOMP awaited


class Outbox:
    """In-flight and waiting publishes; see the module docstring."""

    def __init__(self, ids: PacketIds, window: int) -> None:
        self._ids = ids
        self.window = max(1, window)
        self.inflight: dict[int, Flight] = {}
        self.waiting: deque[Flight] = deque()

    def submit(self, flight: Flight) -> bool:
        """Admit ``flight`` (True: send it now) or queue it behind the others (False)."""
        if self.waiting or len(self.inflight) >= self.window:
            self.waiting.append(flight)
            return False
        self._admit(flight)
        return True

    def get(self, pid: int) -> Flight | None:
        """The in-flight publish with identifier ``pid``."""
        return self.inflight.get(pid)

    def finish(self, pid: int) -> tuple[Flight | None, list[Flight]]:
        """End ``pid``'s flow; return it and the waiting publishes now admitted."""
        flight = self.inflight.pop(pid, None)
        if flight is None:
            return None, []
        self._ids.release(pid)
        return flight, self._promote()

    def withdraw(self, flight: Flight) -> None:
        """Forget a publish nobody waits for any more, unless it was already sent."""
        if flight.packet_id == 0:
            with contextlib.suppress(ValueError):
                self.waiting.remove(flight)

    def reconnected(self, window: int) -> tuple[list[Flight], list[Flight]]:
        """A new connection with ``window``: the publishes to re-send (in their
        original order) and the waiting ones now admitted.

        Publishes beyond a smaller window go back to the head of the queue with
        their identifiers released (a released QoS 2 flow keeps its own: the
        broker holds that packet id).
        """
        self.window = max(1, window)
        flights = list(self.inflight.values())
        excess = len(flights) - self.window
        if excess > 0:
            for flight in reversed(flights):
                if excess == 0:
                    break
                if flight.released:
                    continue
                del self.inflight[flight.packet_id]
                self._ids.release(flight.packet_id)
                flight.packet_id = 0
                self.waiting.appendleft(flight)
                excess -= 1
        resend = list(self.inflight.values())
        return resend, self._promote()

    def fail_all(self, error: Exception) -> None:
        """Fail every caller and forget everything (the transport is closing)."""
        for flight in [*self.inflight.values(), *self.waiting]:
            if not flight.future.done():
                flight.future.set_exception(error)
            if flight.packet_id:
                self._ids.release(flight.packet_id)
        self.inflight.clear()
        self.waiting.clear()

    def _admit(self, flight: Flight) -> None:
        flight.packet_id = self._ids.take()
        self.inflight[flight.packet_id] = flight

    def _promote(self) -> list[Flight]:
        admitted: list[Flight] = []
        while self.waiting and len(self.inflight) < self.window:
            flight = self.waiting.popleft()
            if flight.future.done():
                continue  # its caller gave up before it was ever sent
            self._admit(flight)
            admitted.append(flight)
        return admitted
