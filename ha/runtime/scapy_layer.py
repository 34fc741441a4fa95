"""Scapy layers for hastack's Totem datagrams, so that captures can be read field by field.

Importing this module binds :class:`HastackHeader` on UDP port 5405 (Corosync's
default ``mcastport``; :func:`bind_port` adds another), after which
``rdpcap("capture.pcap")`` shows every hastack datagram as a header and, when the body
is in clear (``crypto_cipher: none``) and not a fragment, as a token, mcast, join,
commit, merge-detect or hold-cancel layer with the Totem field names. An encrypted
body or a fragment stays ``Raw``: the header is all that can be read without the key
or the other fragments.

The datagram's HMAC is a trailer; the header layer shows it as its last field
(``hmac``): dissection moves the trailing 32 bytes next to the header and building
moves them back. Scapy never checks or computes the HMAC; ``ha.runtime.wire`` does.

This is the only module of ``ha`` that imports scapy (a test-extra dependency); it
does not import the codec, so the byte layout here is a second, independent reading
of ``docs/packets.md``, and the tests check the two agree.
"""

from __future__ import annotations

from typing import Any

from scapy.fields import (
    ByteEnumField,
    ByteField,
    Field,
    FieldLenField,
    FieldListField,
    FlagsField,
    IntField,
    LongField,
    PacketListField,
    ShortField,
    StrFixedLenField,
    StrLenField,
    XStrFixedLenField,
)
from scapy.layers.inet import UDP
from scapy.packet import Packet, Raw, bind_layers

HASTACK_PORT = 5405
MAGIC = b"HS"
HEADER_LEN = 28
MAC_LEN = 32
MESSAGE_TYPES = {1: "orf_token", 2: "mcast", 3: "memb_join", 4: "commit_token",
                 5: "merge_detect", 6: "token_hold_cancel"}


class HastackHeader(Packet):
    """The 28-byte header plus the HMAC-SHA-256 trailer of every hastack datagram."""

    name = "hastack"
    fields_desc = [
        StrFixedLenField("magic", MAGIC, 2),
        ByteField("version", 1),
        FlagsField("flags", 0, 8, ["encrypted"]),
        IntField("sender", 0),
        LongField("incarnation", 0),
        LongField("counter", 1),
        ShortField("frag_index", 0),
        ShortField("frag_count", 1),
        XStrFixedLenField("hmac", b"\x00" * MAC_LEN, MAC_LEN),
    ]

    def pre_dissect(self, s: bytes) -> bytes:
        if len(s) < HEADER_LEN + MAC_LEN:
            return s
        return s[:HEADER_LEN] + s[-MAC_LEN:] + s[HEADER_LEN:-MAC_LEN]

    def post_dissect(self, s: bytes) -> bytes:
        # The cached raw header is in dissection order (hmac first); without it,
        # raw() rebuilds through post_build and gives back the bytes as sent.
        self.raw_packet_cache = None
        return s

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        return pkt[:HEADER_LEN] + pay + pkt[HEADER_LEN:]

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        if int(self.flags) & 1 or self.frag_count != 1 or not payload:
            return Raw
        return _BODY_LAYERS.get(payload[0], Raw)

    def mysummary(self) -> str:
        kind = "encrypted" if int(self.flags) & 1 else "clear"
        frag = f" frag {self.frag_index + 1}/{self.frag_count}" if self.frag_count != 1 else ""
        return self.sprintf(f"hastack node %sender% inc %incarnation% #%counter% {kind}{frag}")


class _Body(Packet):
    """A message body: nothing follows it except an inner mcast."""

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return Raw


class HastackToken(_Body):
    """OrfToken: the ordering token (seq, aru, rtr list, flow control)."""

    name = "hastack orf_token"
    fields_desc = [
        ByteEnumField("type", 1, MESSAGE_TYPES),
        FlagsField("flags", 0, 8, ["retrans_flg", "aru_unset"]),
        IntField("ring_rep", 0),
        LongField("ring_seq", 0),
        LongField("token_seq", 0),
        LongField("seq", 0),
        LongField("aru", 0),
        IntField("aru_addr", 0),
        IntField("fcc", 0),
        IntField("backlog", 0),
        IntField("sender", 0),
        FieldLenField("rtr_count", None, count_of="rtr", fmt="H"),
        FieldListField("rtr", [], LongField("seq", 0), count_from=lambda p: p.rtr_count),
    ]

    def mysummary(self) -> str:
        return self.sprintf("orf_token ring (%ring_rep%.%ring_seq%) token_seq %token_seq% "
                            "seq %seq% aru %aru% rtr %rtr% %flags%")


_MCAST_TAIL: list[Field[Any, Any]] = [
    IntField("ring_rep", 0),
    LongField("ring_seq", 0),
    LongField("seq", 0),
    IntField("sender", 0),
    FieldLenField("data_len", None, length_of="data", fmt="I"),
    StrLenField("data", b"", length_from=lambda p: p.data_len),
]


class HastackMcast(_Body):
    """Mcast: an ordered message; ``data`` is the Totem payload (``payload`` in
    ha.totem.messages: scapy reserves that name for the next layer)."""

    name = "hastack mcast"
    fields_desc = [ByteEnumField("type", 2, MESSAGE_TYPES),
                   FlagsField("flags", 0, 8, ["safe", "inner"]), *_MCAST_TAIL]

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return HastackInnerMcast if int(self.flags) & 2 else Raw

    def mysummary(self) -> str:
        return self.sprintf("mcast ring (%ring_rep%.%ring_seq%) seq %seq% from %sender% "
                            "%data_len% bytes %flags%")


class HastackInnerMcast(_Body):
    """An old ring's Mcast re-sent during recovery inside a new ring's Mcast."""

    name = "hastack inner mcast"
    fields_desc = [FlagsField("flags", 0, 8, ["safe"]), *_MCAST_TAIL]

    def mysummary(self) -> str:
        return self.sprintf("inner mcast ring (%ring_rep%.%ring_seq%) seq %seq% from %sender% "
                            "%data_len% bytes")


class HastackJoin(_Body):
    """MembJoin: the gather phase's proc and failed sets."""

    name = "hastack memb_join"
    fields_desc = [
        ByteEnumField("type", 3, MESSAGE_TYPES),
        ByteField("flags", 0),
        IntField("sender", 0),
        LongField("ring_seq", 0),
        FieldLenField("proc_count", None, count_of="proc", fmt="H"),
        FieldLenField("failed_count", None, count_of="failed", fmt="H"),
        FieldListField("proc", [], IntField("node", 0), count_from=lambda p: p.proc_count),
        FieldListField("failed", [], IntField("node", 0), count_from=lambda p: p.failed_count),
    ]

    def mysummary(self) -> str:
        return self.sprintf("memb_join from %sender% ring_seq %ring_seq% proc %proc% failed %failed%")


class HastackMembEntry(Packet):
    """One member's entry of a commit token (old ring id, aru, high delivered)."""

    name = "hastack memb_entry"
    fields_desc = [
        FlagsField("flags", 0, 8, ["present", "received_flg"]),
        IntField("ring_rep", 0),
        LongField("ring_seq", 0),
        LongField("aru", 0),
        LongField("high_delivered", 0),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class HastackCommit(_Body):
    """CommitToken: the new ring's members and, per member, its MembEntry."""

    name = "hastack commit_token"
    fields_desc = [
        ByteEnumField("type", 4, MESSAGE_TYPES),
        ByteField("flags", 0),
        IntField("ring_rep", 0),
        LongField("ring_seq", 0),
        LongField("token_seq", 0),
        ShortField("memb_index", 0),
        IntField("sender", 0),
        FieldLenField("addr_count", None, count_of="addrs", fmt="H"),
        FieldLenField("entry_count", None, count_of="entries", fmt="H"),
        FieldListField("addrs", [], IntField("node", 0), count_from=lambda p: p.addr_count),
        PacketListField("entries", [], HastackMembEntry, count_from=lambda p: p.entry_count),
    ]

    def mysummary(self) -> str:
        return self.sprintf("commit_token ring (%ring_rep%.%ring_seq%) addrs %addrs% "
                            "memb_index %memb_index%")


_NOTICE: list[Field[Any, Any]] = [IntField("sender", 0), IntField("ring_rep", 0), LongField("ring_seq", 0)]


class HastackMergeDetect(_Body):
    """MergeDetect: an idle ring's representative announcing its ring."""

    name = "hastack merge_detect"
    fields_desc = [ByteEnumField("type", 5, MESSAGE_TYPES), ByteField("flags", 0), *_NOTICE]

    def mysummary(self) -> str:
        return self.sprintf("merge_detect from %sender% ring (%ring_rep%.%ring_seq%)")


class HastackHoldCancel(_Body):
    """TokenHoldCancel: asks the representative to release a held token."""

    name = "hastack token_hold_cancel"
    fields_desc = [ByteEnumField("type", 6, MESSAGE_TYPES), ByteField("flags", 0), *_NOTICE]

    def mysummary(self) -> str:
        return self.sprintf("token_hold_cancel from %sender% ring (%ring_rep%.%ring_seq%)")


_BODY_LAYERS: dict[int, type[Packet]] = {
    1: HastackToken, 2: HastackMcast, 3: HastackJoin, 4: HastackCommit,
    5: HastackMergeDetect, 6: HastackHoldCancel,
}


def bind_port(port: int) -> None:
    """Decode UDP traffic to or from ``port`` as hastack (the cluster's mcastport)."""
    bind_layers(UDP, HastackHeader, dport=port)
    bind_layers(UDP, HastackHeader, sport=port)


def layer_fields(pkt: Packet) -> dict[str, Any]:
    """The fields of one layer as a plain dict (for tests and scripts)."""
    return dict(pkt.fields)


bind_port(HASTACK_PORT)
