"""The scapy layers read hastack datagrams as the codec writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("scapy")

from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.packet import Raw, raw  # noqa: E402
from scapy.utils import rdpcap  # noqa: E402

from ha.runtime.scapy_layer import (  # noqa: E402
    HastackCommit,
    HastackHeader,
    HastackHoldCancel,
    HastackInnerMcast,
    HastackJoin,
    HastackMcast,
    HastackMergeDetect,
    HastackToken,
)
from ha.runtime.wire import PacketCodec  # noqa: E402
from ha.runtime.wire_crypto import WireKeys  # noqa: E402
from ha.totem.messages import (  # noqa: E402
    CommitToken,
    Mcast,
    MembEntry,
    MembJoin,
    MergeDetect,
    Message,
    OrfToken,
    TokenHoldCancel,
)

PCAP = Path(__file__).resolve().parents[1] / "data" / "hastack_lo.pcap"
CAPTURE_KEY = bytes(range(128))  # as in tests/data/capture_hastack.py
KEY = bytes(range(200))


def codec(node: int, cipher: str = "none", key: bytes = KEY, cluster: str = "lab") -> PacketCodec:
    return PacketCodec(node_id=node, key=key, cluster_name=cluster, cipher=cipher, incarnation=9)


def on_the_wire(datagram: bytes) -> Any:
    """The datagram as a capture shows it: dissected from IP upwards."""
    return IP(raw(IP(src="127.0.0.1", dst="127.0.0.2") / UDP(sport=5405, dport=5405) / datagram))


def expected_fields(msg: Message) -> tuple[type, dict[str, Any]]:
    """The scapy layer and field values that show ``msg``."""
    if isinstance(msg, OrfToken):
        return HastackToken, {
            "ring_rep": msg.ring_id[0], "ring_seq": msg.ring_id[1], "token_seq": msg.token_seq,
            "seq": msg.seq, "aru": max(msg.aru, 0), "aru_addr": msg.aru_addr, "fcc": msg.fcc,
            "backlog": msg.backlog, "sender": msg.sender, "rtr": msg.rtr,
            "flags": int(msg.retrans_flg) | (2 if msg.aru == -1 else 0)}
    if isinstance(msg, Mcast):
        return HastackMcast, {"ring_rep": msg.ring_id[0], "ring_seq": msg.ring_id[1],
                              "seq": msg.seq, "sender": msg.sender, "data": msg.payload,
                              "flags": int(msg.safe) | (2 if msg.inner else 0)}
    if isinstance(msg, MembJoin):
        return HastackJoin, {"sender": msg.sender, "ring_seq": msg.ring_seq,
                             "proc": sorted(msg.proc), "failed": sorted(msg.failed)}
    if isinstance(msg, CommitToken):
        return HastackCommit, {"ring_rep": msg.ring_id[0], "ring_seq": msg.ring_id[1],
                               "token_seq": msg.token_seq, "memb_index": msg.memb_index,
                               "sender": msg.sender, "addrs": list(msg.addrs)}
    if isinstance(msg, MergeDetect):
        return HastackMergeDetect, {"sender": msg.sender, "ring_rep": msg.ring_id[0],
                                    "ring_seq": msg.ring_id[1]}
    assert isinstance(msg, TokenHoldCancel)
    return HastackHoldCancel, {"sender": msg.sender, "ring_rep": msg.ring_id[0],
                               "ring_seq": msg.ring_id[1]}


def assert_shows(pkt: Any, msg: Message) -> None:
    layer, fields = expected_fields(msg)
    assert pkt.haslayer(layer), pkt.summary()
    body = pkt[layer]
    for name, value in fields.items():
        got = int(body.getfieldval(name)) if name == "flags" else body.getfieldval(name)
        assert got == value, (name, got, value)
    if isinstance(msg, CommitToken):
        for entry, e in zip(body.entries, msg.entries, strict=True):
            assert (int(entry.flags) & 1) == (e is not None)
            if e is not None:
                assert (entry.ring_rep, entry.ring_seq, entry.aru, entry.high_delivered) == (
                    *e.ring_id, e.aru, e.high_delivered)
                assert bool(int(entry.flags) & 2) == e.received_flg
    if isinstance(msg, Mcast) and msg.inner is not None:
        inner = pkt[HastackInnerMcast]
        assert (inner.ring_rep, inner.ring_seq, inner.seq, inner.sender, inner.data) == (
            *msg.inner.ring_id, msg.inner.seq, msg.inner.sender, msg.inner.payload)


# ---- the real capture -----------------------------------------------------------------
def capture() -> list[Any]:
    return [p for p in rdpcap(str(PCAP)) if p.haslayer(HastackHeader)]


def test_capture_decodes_into_hastack_layers() -> None:
    kinds = [p[HastackHeader].payload.__class__.__name__ for p in capture()]
    assert kinds == ["HastackJoin", "HastackJoin", "HastackCommit", "HastackCommit",
                     "HastackToken", "HastackMcast", "HastackMcast", "Raw", "Raw",
                     "HastackToken", "HastackHoldCancel", "HastackMergeDetect", "Raw"]


def test_capture_shows_what_the_codec_decodes() -> None:
    receivers = {1: codec(2, key=CAPTURE_KEY), 2: codec(1, key=CAPTURE_KEY)}
    shown = 0
    for pkt in capture():
        hdr = pkt[HastackHeader]
        if int(hdr.flags) & 1:
            continue  # sent by another (encrypting) codec: header only
        msg = receivers[hdr.sender].decode(bytes(pkt[UDP].payload), hdr.sender, 0.0)
        if hdr.frag_count == 1:
            assert msg is not None
            assert_shows(pkt, msg)
            shown += 1
    assert shown == 10 and not any(r.drops for r in receivers.values())


def test_capture_fragment_and_encrypted_bodies_stay_raw() -> None:
    pkts = capture()
    frag, enc = pkts[7][HastackHeader], pkts[-1][HastackHeader]
    assert (frag.frag_index, frag.frag_count, frag.counter) == (0, 2, 5)
    assert isinstance(frag.payload, Raw)
    assert int(enc.flags) == 1 and isinstance(enc.payload, Raw)


def test_capture_token_with_aru_unset() -> None:
    tok = capture()[4][HastackToken]
    assert str(tok.flags) == "retrans_flg+aru_unset" and tok.aru == 0


# ---- datagrams of every kind ----------------------------------------------------------
node_ids = st.integers(1, 0xFFFF_FFFF)
u64 = st.integers(0, (1 << 64) - 1)
ring_ids = st.tuples(node_ids, u64)
small = st.binary(max_size=200)
plain = st.builds(Mcast, ring_ids, u64, node_ids, st.booleans(), small)
messages = st.one_of(
    plain, st.builds(Mcast, ring_ids, u64, node_ids, st.booleans(), small, plain),
    st.builds(OrfToken, ring_ids, u64, u64, st.one_of(st.just(-1), u64), st.integers(0, 9),
              st.integers(0, 99), st.integers(0, 99), st.booleans(), st.lists(u64, max_size=30),
              st.integers(0, 9)),
    st.builds(MembJoin, node_ids, st.frozensets(node_ids, max_size=9),
              st.frozensets(node_ids, max_size=9), u64),
    st.builds(MergeDetect, node_ids, ring_ids), st.builds(TokenHoldCancel, node_ids, ring_ids),
)


@settings(max_examples=150, deadline=None)
@given(msg=messages)
def test_layer_shows_every_message_and_rebuilds_the_same_bytes(msg: Message) -> None:
    (datagram,) = codec(1).encode(msg)
    pkt = on_the_wire(datagram)
    assert_shows(pkt, msg)
    assert raw(pkt[HastackHeader]) == datagram


def test_commit_token_entries_are_shown() -> None:
    ct = CommitToken((1, 8), 3, 1, (1, 2, 3), (MembEntry((1, 4), 7, 6, True), None,
                                               MembEntry((3, 2), 9, 9, False)), 1)
    assert_shows(on_the_wire(codec(1).encode(ct)[0]), ct)


def test_packet_built_with_the_layers_is_accepted_by_the_codec() -> None:
    built = raw(HastackHeader(sender=1, incarnation=9, counter=1)
                / HastackToken(ring_rep=1, ring_seq=8, token_seq=4, seq=10, aru=9, aru_addr=2,
                               sender=1, rtr=[10]))
    datagram = WireKeys(KEY, "lab").mac.seal(built[:-32], b"")
    assert codec(2).decode(datagram, 1, 0.0) == OrfToken((1, 8), 4, 10, 9, 2, 0, 0, False, [10], 1)


def test_encrypted_datagram_shows_the_header_only() -> None:
    pkt = on_the_wire(codec(3, cipher="aes256").encode(MergeDetect(3, (3, 1)))[0])
    hdr = pkt[HastackHeader]
    assert (hdr.sender, hdr.incarnation, hdr.counter) == (3, 9, 1)
    assert isinstance(hdr.payload, Raw) and not pkt.haslayer(HastackMergeDetect)
