"""Cutting the broker's byte stream into MQTT packets (pure: no I/O).

``mqtt5.read`` decodes one packet from a buffer but answers "not enough bytes"
both for a packet that is still arriving and for one whose own length fields
lie, so it is never asked to guess: :class:`Framer` reads the fixed header
(type byte, Variable Byte Integer remaining length, MQTT 5 section 2.1.4)
itself and hands ``mqtt5.read`` exactly one complete packet at a time. Any
failure to decode a complete packet, or a decoder that does not consume it
exactly, is a :class:`MalformedPacket` (whatever the codec raised: invalid
UTF-8 in a property even ends in a Rust panic, a ``BaseException``). The
connection is then unusable (MQTT has no resynchronisation) and the owner
drops it.

Invariants: bytes are consumed in order and only as whole packets; the
buffer keeps at most one incomplete packet; nothing here blocks or raises
anything but :class:`MalformedPacket`.
"""

from __future__ import annotations

import mqtt5

from a2a_mqtt.errors import TransportError

__all__ = ["MAX_REMAINING_LENGTH", "Framer", "MalformedPacket", "remaining_length"]

#: The largest remaining length a four-byte Variable Byte Integer can express.
MAX_REMAINING_LENGTH = 268_435_455


class MalformedPacket(TransportError):
    """The broker sent bytes that are not a valid MQTT 5 packet."""


def remaining_length(buf: bytes | bytearray | memoryview, start: int) -> tuple[int, int] | None:
    """``(length, header_size)`` of the packet at ``buf[start]``, ``None`` if incomplete.

    Raises :class:`MalformedPacket` for a Variable Byte Integer longer than
    four bytes.
    """
    end = len(buf)
    length = 0
    shift = 0
    i = start + 1
    while True:
        if i >= end:
            return None
        byte = buf[i]
        length |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return length, i - start
        shift += 7
        if shift >= 28:
            raise MalformedPacket("malformed packet: remaining length longer than four bytes")


class Framer:
    """Accumulates received bytes and returns the complete packets in them."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete packet held back."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[mqtt5.Packet]:
        """Every complete packet in what was buffered plus ``data``, in order."""
        if self._buf:
            self._buf += data
            source: bytes | bytearray = self._buf
        else:
            source = data  # the common case: decode straight from the received bytes
        packets: list[mqtt5.Packet] = []
        pos = 0
        size = len(source)
        view = memoryview(source)
        try:
            while size - pos >= 2:
                header = remaining_length(source, pos)
                if header is None:
                    break
                length, header_size = header
                end = pos + header_size + length
                if end > size:
                    break
                try:
                    packet, used = mqtt5.read(view[pos:end])
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # even a panic in the codec, a BaseException
                    raise MalformedPacket(
                        f"malformed packet (type byte 0x{source[pos]:02X}): {exc}"
                    ) from exc
                if used != end - pos:
                    raise MalformedPacket(
                        f"packet (type byte 0x{source[pos]:02X}) declares {end - pos} bytes "
                        f"but decodes from {used}"
                    )
                packets.append(packet)
                pos = end
        finally:
            view.release()
        if source is self._buf:
            del self._buf[:pos]
        elif pos < size:
            self._buf += data[pos:]
        return packets
