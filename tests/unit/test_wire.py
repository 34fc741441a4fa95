"""The wire codec: round trips, fragments, and every reason a datagram is dropped."""

from __future__ import annotations

import hmac
import random
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ha.runtime import wire_body
from ha.runtime.wire import REPLAY_WINDOW, PacketCodec
from ha.runtime.wire_body import BodyError, decode_body, encode_body
from ha.runtime.wire_crypto import HEADER, MAC_LEN, HmacSha256, WireKeys, gcm_nonce
from ha.totem.messages import (
    RETRANSMIT_ENTRIES_MAX,
    CommitToken,
    Mcast,
    MembEntry,
    MembJoin,
    MergeDetect,
    Message,
    OrfToken,
    TokenHoldCancel,
)

KEY = bytes(range(200))
U64 = (1 << 64) - 1
RING = (1, 8)


def codec(node: int = 1, *, incarnation: int = 100, cipher: str = "none", **kw: Any) -> PacketCodec:
    return PacketCodec(node_id=node, key=KEY, cluster_name="lab", cipher=cipher,
                       incarnation=incarnation, **kw)


def crafted(body: bytes, *, sender: int = 1, incarnation: int = 100, counter: int = 1,
            index: int = 0, count: int = 1, flags: int = 0, version: int = 1) -> bytes:
    """An authenticated datagram with any header fields (what a buggy peer could send)."""
    hdr = HEADER.pack(b"HS", version, flags, sender, incarnation, counter, index, count)
    return WireKeys(KEY, "lab").mac.seal(hdr, body)


def only_drop(c: PacketCodec) -> str:
    assert sum(c.drops.values()) == 1, c.drops
    return next(iter(c.drops))


# ---- strategies -----------------------------------------------------------------------
node_ids = st.integers(1, 0xFFFF_FFFF)
u64 = st.integers(0, U64)
u32 = st.integers(0, 0xFFFF_FFFF)
ring_ids = st.tuples(node_ids, u64)
payloads = st.binary(max_size=3000)
plain_mcasts = st.builds(Mcast, ring_ids, u64, node_ids, st.booleans(), payloads)
mcasts = st.one_of(plain_mcasts, st.builds(Mcast, ring_ids, u64, node_ids, st.booleans(),
                                           payloads, plain_mcasts))
tokens = st.builds(OrfToken, ring_ids, u64, u64, st.one_of(st.just(-1), u64), u32, u32, u32,
                   st.booleans(), st.lists(u64, max_size=RETRANSMIT_ENTRIES_MAX), u32)
joins = st.builds(MembJoin, node_ids, st.frozensets(node_ids, max_size=40),
                  st.frozensets(node_ids, max_size=40), u64)
entries = st.one_of(st.none(), st.builds(MembEntry, ring_ids, u64, u64, st.booleans()))


@st.composite
def commit_tokens(draw: st.DrawFn) -> CommitToken:
    addrs = tuple(draw(st.lists(node_ids, max_size=40, unique=True)))
    ents = tuple(draw(entries) for _ in addrs)
    return CommitToken(draw(ring_ids), draw(u64), draw(st.integers(0, len(addrs))), addrs, ents,
                       draw(u32))


messages = st.one_of(mcasts, tokens, joins, commit_tokens(),
                     st.builds(MergeDetect, node_ids, ring_ids),
                     st.builds(TokenHoldCancel, node_ids, ring_ids))


# ---- round trips ----------------------------------------------------------------------
@pytest.mark.parametrize("cipher", ["none", "aes256"])
@settings(max_examples=150, deadline=None)
@given(msg=messages)
def test_every_message_round_trips(cipher: str, msg: Message) -> None:
    tx, rx = codec(1, cipher=cipher), codec(2, cipher=cipher)
    datagrams = tx.encode(msg)
    assert all(len(d) <= 1500 - 28 for d in datagrams)
    results = [rx.decode(d, 1, 0.0) for d in datagrams]
    assert results[-1] == msg
    assert results[:-1] == [None] * (len(datagrams) - 1)
    assert not rx.drops


@given(msg=messages)
def test_body_encoding_is_canonical(msg: Message) -> None:
    body = encode_body(msg)
    assert encode_body(decode_body(body)) == body


def test_token_aru_minus_one_survives() -> None:
    tok = OrfToken(RING, 0, 0, -1, 1, 0, 0, True, [], 1)
    assert codec(2).decode(codec(1).encode(tok)[0], 1, 0.0) == tok


def test_recovery_mcast_keeps_its_inner_message() -> None:
    inner = Mcast((2, 4), 40, 2, True, b"old ring")
    got = codec(2).decode(codec(1).encode(Mcast(RING, 7, 1, False, b"", inner))[0], 1, 0.0)
    assert isinstance(got, Mcast) and got.inner == inner


def test_encrypted_datagram_hides_the_payload() -> None:
    secret = b"the cib says secret"
    (d,) = codec(cipher="aes256").encode(Mcast(RING, 1, 1, False, secret))
    assert secret not in d


def test_two_encryptions_of_one_message_differ() -> None:
    tx = codec(cipher="aes256")
    msg = Mcast(RING, 1, 1, False, b"same")
    assert tx.encode(msg)[0][28:] != tx.encode(msg)[0][28:]


@given(key=st.binary(min_size=1, max_size=200), data=st.binary(max_size=500))
def test_precomputed_hmac_equals_stdlib(key: bytes, data: bytes) -> None:
    assert HmacSha256(key).digest(data) == hmac.digest(key, data, "sha256")


# ---- fragments ------------------------------------------------------------------------
def big(n: int = 10_000) -> Mcast:
    return Mcast(RING, 3, 1, True, random.Random(n).randbytes(n))


@pytest.mark.parametrize("cipher", ["none", "aes256"])
def test_fragments_reassemble_in_any_order(cipher: str) -> None:
    tx, rx = codec(1, cipher=cipher), codec(2, cipher=cipher)
    datagrams = tx.encode(big())
    assert len(datagrams) > 2
    random.Random(7).shuffle(datagrams)
    results = [rx.decode(d, 1, 0.0) for d in datagrams]
    assert results[-1] == big() and results.count(None) == len(datagrams) - 1
    assert rx.stats["reassembled"] == 1 and rx.pending_fragments == 0


def test_one_mebibyte_payload_fits_the_default_max_message() -> None:
    msg = Mcast(RING, 3, 1, True, bytes(1 << 20))
    rx = codec(2)
    assert [rx.decode(d, 1, 0.0) for d in codec(1).encode(msg)][-1] == msg


def test_message_beyond_max_message_is_refused_by_encode() -> None:
    with pytest.raises(ValueError, match="max_message"):
        codec(max_message=1000).encode(Mcast(RING, 1, 1, False, bytes(70_000)))


def test_small_mtu_gives_small_datagrams() -> None:
    datagrams = codec(mtu=576).encode(big(3000))
    assert max(map(len, datagrams)) == 576 - 28


def test_interleaved_messages_of_two_senders_reassemble() -> None:
    a, b, rx = codec(1), codec(3), codec(2)
    da, db = a.encode(big(5000)), b.encode(Mcast(RING, 9, 3, False, bytes(4000)))
    out = [rx.decode(d, s, 0.0) for pair in zip(da, db, strict=False) for d, s in zip(pair, (1, 3), strict=True)]
    out += [rx.decode(d, 1, 0.0) for d in da[len(db):]]
    assert [m for m in out if m is not None] == [Mcast(RING, 9, 3, False, bytes(4000)), big(5000)]


# ---- drops: header and envelope -------------------------------------------------------
def test_short_datagram() -> None:
    rx = codec(2)
    assert rx.decode(b"HS\x01", 1, 0.0) is None and only_drop(rx) == "short"


def test_foreign_traffic_is_bad_magic() -> None:
    rx = codec(2)
    rx.decode(b"\x00" * 100, 1, 0.0)
    assert only_drop(rx) == "bad_magic"


@pytest.mark.parametrize(("field", "reason"), [("version", "bad_version"), ("flags", "bad_flags")])
def test_unknown_version_or_flags(field: str, reason: str) -> None:
    rx = codec(2)
    rx.decode(crafted(encode_body(MergeDetect(1, RING)), **{field: 2 if field == "version" else 0x80}), 1, 0.0)
    assert only_drop(rx) == reason


@pytest.mark.parametrize("cipher", ["none", "aes256"])
def test_tampering_with_any_byte_drops_the_datagram(cipher: str) -> None:
    (d,) = codec(cipher=cipher).encode(Mcast(RING, 1, 1, False, b"payload"))
    for i in range(len(d)):
        rx = codec(2, cipher=cipher)
        bad = bytearray(d)
        bad[i] ^= 0x40
        assert rx.decode(bytes(bad), 1, 0.0) is None
        assert sum(rx.drops.values()) == 1, (i, rx.drops)


def test_other_cluster_name_is_bad_hmac() -> None:
    other = PacketCodec(node_id=1, key=KEY, cluster_name="other", incarnation=1)
    rx = codec(2)
    rx.decode(other.encode(MergeDetect(1, RING))[0], 1, 0.0)
    assert only_drop(rx) == "bad_hmac"


def test_header_sender_must_match_the_source_address() -> None:
    rx = codec(2)
    rx.decode(codec(1).encode(MergeDetect(1, RING))[0], 3, 0.0)
    assert only_drop(rx) == "sender_mismatch"


@pytest.mark.parametrize(("tx_cipher", "rx_cipher"), [("none", "aes256"), ("aes256", "none")])
def test_cipher_mismatch(tx_cipher: str, rx_cipher: str) -> None:
    rx = codec(2, cipher=rx_cipher)
    rx.decode(codec(cipher=tx_cipher).encode(MergeDetect(1, RING))[0], 1, 0.0)
    assert only_drop(rx) == "cipher_mismatch"


def test_encrypted_datagram_without_room_for_a_tag_is_short() -> None:
    rx = codec(2, cipher="aes256")
    rx.decode(crafted(b"\x01" * 5, flags=1), 1, 0.0)
    assert only_drop(rx) == "short"


def test_authenticated_garbage_ciphertext_fails_decryption() -> None:
    rx = codec(2, cipher="aes256")
    rx.decode(crafted(b"\x00" * 40, flags=1), 1, 0.0)
    assert only_drop(rx) == "decrypt_failed"


def test_ciphertext_under_another_nodes_key_fails_decryption() -> None:
    node3 = WireKeys(KEY, "lab").aead_for(3, 100)
    hdr = HEADER.pack(b"HS", 1, 1, 1, 100, 1, 0, 1)
    body = node3.encrypt(gcm_nonce(1), encode_body(MergeDetect(1, RING)), hdr)
    rx = codec(2, cipher="aes256")
    rx.decode(WireKeys(KEY, "lab").mac.seal(hdr, body), 1, 0.0)
    assert only_drop(rx) == "decrypt_failed"


@pytest.mark.parametrize("fields", [
    {"counter": 0}, {"count": 0}, {"index": 2, "count": 2}, {"index": 5, "count": 8, "counter": 5},
], ids=["counter0", "count0", "index>=count", "index>=counter"])
def test_bad_fragment_fields(fields: dict[str, int]) -> None:
    rx = codec(2)
    rx.decode(crafted(b"\x05" + bytes(17), **fields), 1, 0.0)
    assert only_drop(rx) == "bad_fragment"


def test_empty_fragment_is_bad() -> None:
    rx = codec(2)
    rx.decode(crafted(b"", counter=1, index=0, count=2), 1, 0.0)
    assert only_drop(rx) == "bad_fragment"


def test_fragment_count_unlike_its_siblings_is_bad() -> None:
    rx = codec(2)
    rx.decode(crafted(b"ab", counter=1, index=0, count=3), 1, 0.0)
    rx.decode(crafted(b"cd", counter=2, index=1, count=4), 1, 0.0)
    assert only_drop(rx) == "bad_fragment" and rx.pending_fragments == 1


def test_too_many_fragments_is_oversize() -> None:
    rx = codec(2, max_message=1000)
    rx.decode(crafted(b"ab", counter=1, index=0, count=60_000), 1, 0.0)
    assert only_drop(rx) == "oversize"


def test_partial_message_growing_past_the_limit_is_oversize() -> None:
    rx = codec(2, max_message=1)  # body limit: 1 + 65536 bytes
    for i in range(50):
        rx.decode(crafted(bytes(1400), counter=i + 1, index=i, count=60), 1, 0.0)
    assert rx.drops["oversize"] == 47 and rx.pending_fragments == 3  # 46 held + the 47th


# ---- drops: replay and incarnations ---------------------------------------------------
def test_replayed_datagram_is_dropped() -> None:
    (d,) = codec().encode(MergeDetect(1, RING))
    rx = codec(2)
    assert rx.decode(d, 1, 0.0) is not None
    assert rx.decode(d, 1, 0.0) is None and only_drop(rx) == "replay"


def test_reordered_datagrams_within_the_window_are_accepted() -> None:
    tx, rx = codec(), codec(2)
    ds = [tx.encode(MergeDetect(1, RING))[0] for _ in range(50)]
    for d in reversed(ds):
        assert rx.decode(d, 1, 0.0) is not None
    assert not rx.drops


def test_datagram_older_than_the_window_is_replay() -> None:
    tx, rx = codec(), codec(2)
    first = tx.encode(MergeDetect(1, RING))[0]
    ds = [tx.encode(MergeDetect(1, RING))[0] for _ in range(REPLAY_WINDOW)]
    rx.decode(ds[-1], 1, 0.0)
    rx.decode(first, 1, 0.0)
    assert only_drop(rx) == "replay"


def test_restarted_peer_with_higher_incarnation_is_accepted() -> None:
    rx = codec(2)
    rx.decode(codec(incarnation=5).encode(MergeDetect(1, RING))[0], 1, 0.0)
    assert rx.decode(codec(incarnation=6).encode(MergeDetect(1, RING))[0], 1, 0.0) is not None
    assert not rx.drops


def test_older_incarnation_is_stale() -> None:
    old, new, rx = codec(incarnation=5), codec(incarnation=6), codec(2)
    rx.decode(new.encode(MergeDetect(1, RING))[0], 1, 0.0)
    rx.decode(old.encode(MergeDetect(1, RING))[0], 1, 0.0)
    assert only_drop(rx) == "stale_incarnation"


def test_restart_abandons_partial_messages_of_the_old_incarnation() -> None:
    rx = codec(2)
    rx.decode(codec(incarnation=5).encode(big())[0], 1, 0.0)
    rx.decode(codec(incarnation=6).encode(MergeDetect(1, RING))[0], 1, 0.0)
    assert only_drop(rx) == "stale_incarnation" and rx.pending_fragments == 0


def test_forged_datagram_does_not_move_the_window() -> None:
    tx, rx = codec(), codec(2)
    d1, d2 = tx.encode(MergeDetect(1, RING))[0], tx.encode(MergeDetect(1, RING))[0]
    forged = bytearray(d2)
    forged[16:24] = (10**9).to_bytes(8, "big")  # a far-ahead counter, HMAC not redone
    rx.decode(bytes(forged), 1, 0.0)
    assert rx.decode(d1, 1, 0.0) is not None and only_drop(rx) == "bad_hmac"


# ---- drops: reassembly limits ---------------------------------------------------------
def test_incomplete_message_times_out() -> None:
    rx = codec(2, reassembly_timeout_s=5.0)
    first, second, *_ = codec().encode(big())
    rx.decode(first, 1, 0.0)
    rx.decode(second, 1, 1.0)
    rx.expire(5.5)
    assert rx.drops == {"reassembly_timeout": 2} and rx.pending_fragments == 0


def test_timeout_is_applied_when_the_next_datagram_arrives() -> None:
    tx, rx = codec(), codec(2, reassembly_timeout_s=5.0)
    rx.decode(tx.encode(big())[0], 1, 0.0)
    assert rx.decode(tx.encode(MergeDetect(1, RING))[0], 1, 6.0) is not None
    assert only_drop(rx) == "reassembly_timeout"


def test_fifth_partial_message_of_a_sender_evicts_the_oldest() -> None:
    tx, rx = codec(), codec(2)
    for _ in range(5):
        rx.decode(tx.encode(big())[0], 1, 0.0)
    assert only_drop(rx) == "reassembly_overflow" and rx.pending_fragments == 4


def test_total_reassembly_memory_is_bounded() -> None:
    rx = codec(2, max_message=1)  # buffers 4 × 65537 bytes in all
    for node in range(3, 8):
        for i in range(40):
            rx.decode(crafted(bytes(1400), sender=node, counter=i + 1, index=i, count=100), node, 0.0)
    assert rx.drops["reassembly_overflow"] > 0
    assert 1400 * rx.pending_fragments <= 4 * 65537


def test_unknown_address_is_counted_by_the_daemon() -> None:
    rx = codec(2)
    rx.drop("unknown_address")
    assert rx.drops == {"unknown_address": 1}


# ---- drops: bodies --------------------------------------------------------------------
def _bad_bodies() -> dict[str, tuple[bytes, str]]:
    tok = encode_body(OrfToken(RING, 1, 5, 4, 0, 0, 0, False, [5], 1))
    mc = encode_body(Mcast(RING, 1, 1, False, b"abc", Mcast((2, 4), 3, 2, False, b"xy")))
    join = encode_body(MembJoin(1, frozenset({1, 2}), frozenset({3}), 4))
    commit = encode_body(CommitToken(RING, 0, 1, (1, 2), (MembEntry(RING, 1, 1, True), None), 1))
    notice = encode_body(MergeDetect(1, RING))
    off_rtr = wire_body.ORF_TOKEN.size - 2
    inner_flags = wire_body.MCAST.size + 3
    return {
        "empty": (b"", "malformed"),
        "unknown type": (b"\x09" + notice[1:], "unknown_type"),
        "token trailing byte": (tok + b"\x00", "malformed"),
        "token unknown flag": (tok[:1] + b"\x80" + tok[2:], "malformed"),
        "token aru set while unset": (tok[:1] + b"\x02" + tok[2:], "malformed"),
        "token rtr over max": (tok[:off_rtr] + struct.pack(">H", 31) + bytes(8 * 31), "malformed"),
        "token truncated": (tok[:20], "malformed"),
        "mcast payload overruns": (mc[:wire_body.MCAST.size - 4] + struct.pack(">I", 999) + mc[wire_body.MCAST.size:], "malformed"),
        "mcast nests two levels": (mc[:inner_flags] + b"\x02" + mc[inner_flags + 1:], "malformed"),
        "mcast sender 0": (mc[:22] + bytes(4) + mc[26:], "malformed"),
        "join duplicate proc": (join[:-12] + struct.pack(">III", 1, 1, 3), "malformed"),
        "join node 0": (join[:-4] + bytes(4), "malformed"),
        "join count mismatch": (join + bytes(4), "malformed"),
        "commit entries != addrs": (commit[:wire_body.COMMIT_TOKEN.size - 2] + struct.pack(">H", 1) + commit[wire_body.COMMIT_TOKEN.size:], "malformed"),
        "commit memb_index > members": (commit[:22] + struct.pack(">H", 3) + commit[24:], "malformed"),
        "join ids not ascending": (join[:-12] + struct.pack(">III", 2, 1, 3), "malformed"),
        "commit absent entry not zero": (commit[:-1] + b"\x01", "malformed"),
        "notice too long": (notice + b"\x00", "malformed"),
        "notice flags": (notice[:1] + b"\x01" + notice[2:], "malformed"),
    }


@pytest.mark.parametrize("case", sorted(_bad_bodies()))
def test_bad_body_is_dropped_with_its_reason(case: str) -> None:
    body, reason = _bad_bodies()[case]
    with pytest.raises(BodyError) as err:
        decode_body(body)
    assert err.value.reason == reason
    rx = codec(2)
    assert rx.decode(crafted(body), 1, 0.0) is None and only_drop(rx) == reason


@settings(max_examples=300)
@given(data=st.binary(max_size=200))
def test_decode_never_raises_on_random_datagrams(data: bytes) -> None:
    rx = codec(2)
    assert rx.decode(data, 1, 0.0) is None and sum(rx.drops.values()) == 1


@settings(max_examples=500)
@given(body=st.binary(min_size=1, max_size=300))
def test_authenticated_random_bodies_decode_or_drop_cleanly(body: bytes) -> None:
    rx = codec(2)
    msg = rx.decode(crafted(body), 1, 0.0)
    if msg is None:
        assert only_drop(rx) in {"malformed", "unknown_type"}
    else:
        assert encode_body(msg) == body


# ---- encoding refuses what the wire cannot carry --------------------------------------
@pytest.mark.parametrize("msg", [
    OrfToken(RING, 0, 0, 0, 0, 0, 0, False, list(range(RETRANSMIT_ENTRIES_MAX + 1)), 1),
    OrfToken(RING, 0, -5, 0, 0, 0, 0, False, [], 1),
    Mcast(RING, 0, 1, False, b"", Mcast(RING, 0, 1, False, b"", Mcast(RING, 0, 1, False, b""))),
    Mcast(RING, 0, 0, False, b""),
    MembJoin(1, frozenset({0, 2}), frozenset(), 1),
    CommitToken(RING, 0, 0, (1, 2), (None,), 1),
    CommitToken(RING, 0, 3, (1, 2), (None, None), 1),
    MergeDetect(1, (1, 1 << 64)),
], ids=["rtr>max", "negative seq", "nested twice", "sender 0", "join node 0",
        "entries!=addrs", "memb_index>n", "ring seq>u64"])
def test_encode_refuses_a_message_the_wire_cannot_carry(msg: Message) -> None:
    with pytest.raises(ValueError):
        codec().encode(msg)


@pytest.mark.parametrize("kw", [
    {"node_id": 0}, {"cipher": "aes128"}, {"mtu": 500}, {"incarnation": -1}, {"key": b""},
    {"max_message": 0}, {"reassembly_timeout_s": 0.0},
])
def test_constructor_refuses_bad_settings(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"node_id": 1, "key": KEY, "cluster_name": "lab", "incarnation": 1}
    args.update(kw)
    with pytest.raises(ValueError):
        PacketCodec(**args)


def test_stats_count_what_was_sent_and_received() -> None:
    tx, rx = codec(), codec(2)
    for d in tx.encode(big()) + tx.encode(MergeDetect(1, RING)):
        rx.decode(d, 1, 0.0)
    assert tx.stats["sent_messages"] == 2 == rx.stats["recv_messages"]
    assert tx.stats["sent_packets"] == rx.stats["recv_packets"] == tx.stats["fragments_sent"] + 1
    assert tx.stats["sent_bytes"] == rx.stats["recv_bytes"]
    assert len(codec().encode(MergeDetect(1, RING))[0]) == 28 + 18 + MAC_LEN


@settings(max_examples=300)
@given(msg=messages, where=st.integers(0), value=st.integers(0, 255))
def test_any_changed_body_byte_decodes_canonically_or_drops(msg: Message, where: int, value: int) -> None:
    body = bytearray(encode_body(msg))
    body[where % len(body)] = value
    rx = codec(2)
    got = rx.decode(crafted(bytes(body)), 1, 0.0)
    if got is None:
        assert only_drop(rx) in {"malformed", "unknown_type"}
    else:
        assert encode_body(got) == body
