"""Cutting the broker's byte stream into packets (a2a_mqtt.transport._framing)."""

from __future__ import annotations

import mqtt5
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.errors import TransportError
from a2a_mqtt.transport._framing import Framer, MalformedPacket, remaining_length

text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00+#"),
               min_size=1, max_size=12)  # fmt: skip
ids = st.integers(1, 65535)


def _qos1(topic: str, payload: bytes, pid: int) -> mqtt5.PublishPacket:
    return mqtt5.PublishPacket(topic, payload, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=pid,
                               user_properties=[("k", topic)])  # fmt: skip


def _suback(pid: int) -> mqtt5.SubAckPacket:
    return mqtt5.SubAckPacket(pid, [mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE])


packets = st.one_of(
    st.builds(mqtt5.PublishPacket, text, st.binary(max_size=300)),
    st.builds(_qos1, text, st.binary(max_size=300), ids),
    st.builds(mqtt5.PubAckPacket, ids),
    st.builds(mqtt5.PubRecPacket, ids),
    st.builds(mqtt5.PubRelPacket, ids),
    st.builds(mqtt5.PubCompPacket, ids),
    st.builds(_suback, ids),
    st.just(mqtt5.PingRespPacket()),
    st.just(mqtt5.ConnAckPacket(session_present=True, receive_max=20)),
)


def feed_in_pieces(framer: Framer, data: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    start = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        out += [p.write() for p in framer.feed(data[start:cut])]
        start = max(start, cut)
    return out


@given(st.lists(packets, min_size=1, max_size=20), st.lists(st.integers(0, 10_000), max_size=8))
def test_any_split_of_valid_packets_yields_them_in_order(
    sent: list[mqtt5.Packet], cuts: list[int]
) -> None:
    wire = [p.write() for p in sent]
    framer = Framer()
    assert feed_in_pieces(framer, b"".join(wire), cuts) == wire
    assert framer.buffered == 0


@settings(max_examples=300)
@given(st.binary(max_size=200), st.lists(st.integers(0, 400), max_size=5))
def test_arbitrary_bytes_decode_or_raise_malformed_packet_only(
    data: bytes, cuts: list[int]
) -> None:
    framer = Framer()
    try:
        feed_in_pieces(framer, data, cuts)
    except MalformedPacket as exc:  # a TransportError: the connection is dropped
        error: Exception | None = exc
    else:
        error = None
        assert framer.buffered <= len(data)
    assert error is None or (isinstance(error, TransportError) and str(error))


def test_remaining_length() -> None:
    assert remaining_length(b"\x30", 0) is None
    assert remaining_length(b"\x30\x00", 0) == (0, 2)
    assert remaining_length(b"\x30\xff\x7f", 0) == (16383, 3)
    assert remaining_length(b"\x30\xff\xff\xff\x7f", 0) == (268_435_455, 5)
    assert remaining_length(b"\x30\xff\xff", 0) is None  # more length bytes to come
    with pytest.raises(MalformedPacket, match="four bytes"):
        remaining_length(b"\x30\xff\xff\xff\xff\x01", 0)


@pytest.mark.parametrize(
    "data",
    [
        b"\x40\x01\x00",  # PUBACK whose body is shorter than its packet id
        b"\x40\x04\x00\x01\x77\x00",  # PUBACK with an undefined reason code
        b"\x30\x02\x00\x05",  # PUBLISH whose topic length runs past the packet
        b"\xf0\x00",  # reserved packet type 15 without properties
        b"\x00\x00",  # reserved packet type 0
    ],
)
def test_known_malformed_packets(data: bytes) -> None:
    with pytest.raises(MalformedPacket, match=r"malformed packet|declares"):
        Framer().feed(data)


# mqtt5 0.8 reports the UnicodeDecodeError as "unraisable" before its panic.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_invalid_utf8_is_malformed_and_the_codec_still_works_after() -> None:
    bad = mqtt5.PublishPacket("a", b"x", user_properties=[("k", "v")]).write()
    with pytest.raises(MalformedPacket):
        Framer().feed(bad.replace(b"\x00\x01v", b"\x00\x01\xff"))
    (packet,) = Framer().feed(bad)
    assert isinstance(packet, mqtt5.PublishPacket)
    assert packet.user_properties == [("k", "v")]


def test_an_incomplete_packet_waits_for_the_rest() -> None:
    data = mqtt5.PublishPacket("t", b"x" * 1000).write()
    framer = Framer()
    assert framer.feed(data[:500]) == []
    assert framer.buffered == 500
    (packet,) = framer.feed(data[500:])
    assert isinstance(packet, mqtt5.PublishPacket)
    assert packet.payload == b"x" * 1000
    assert framer.buffered == 0
