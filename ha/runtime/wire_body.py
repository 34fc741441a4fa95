"""The body of a hastack datagram: one Totem message as a type byte and packed fields.

The envelope around it (header, encryption, HMAC, fragments) lives in
:mod:`ha.runtime.wire_crypto` and :mod:`ha.runtime.wire`; this module only turns an
in-memory :data:`ha.totem.messages.Message` into bytes and back. All integers are
big-endian ("network order"); ``docs/packets.md`` has the byte tables.

Rules this module keeps:

- **Canonical bytes.** One message has exactly one encoding: set members are in
  ascending order,
  unused fields are zero, and the decoder refuses anything else (unknown flag bits,
  trailing bytes, a non-zero field in an absent commit-token entry, duplicate ids).
- **Every length and value is checked before use.** A count is checked against the
  bytes that are actually there before anything is allocated; node ids in member lists
  are > 0; the rtr list holds at most ``RETRANSMIT_ENTRIES_MAX`` entries; a commit
  token has as many entries as addresses; an ``Mcast`` nests an ``inner`` one level
  deep at most (recovery encapsulation), never two.
- **One error type.** :func:`decode_body` raises :class:`BodyError` (``reason`` is a
  drop reason: ``"malformed"`` or ``"unknown_type"``) and nothing else;
  :func:`encode_body` raises ``ValueError`` for a message the wire cannot carry (a
  caller's bug, e.g. a negative sequence or a node id 0 in a member list).

The one negative value Totem uses, an ``OrfToken.aru`` of -1 (the first token of a
new ring, before anything was received), travels as a flag bit with a zero field, so
that every sequence field keeps its full u64 range.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

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

T_ORF_TOKEN = 1
T_MCAST = 2
T_MEMB_JOIN = 3
T_COMMIT_TOKEN = 4
T_MERGE_DETECT = 5
T_TOKEN_HOLD_CANCEL = 6
TYPE_NAMES = {T_ORF_TOKEN: "orf_token", T_MCAST: "mcast", T_MEMB_JOIN: "memb_join",
              T_COMMIT_TOKEN: "commit_token", T_MERGE_DETECT: "merge_detect",
              T_TOKEN_HOLD_CANCEL: "token_hold_cancel"}

# OrfToken flags
TOKEN_RETRANS_FLG = 0x01
TOKEN_ARU_UNSET = 0x02
# Mcast flags
MCAST_SAFE = 0x01
MCAST_INNER = 0x02
# MembEntry flags
ENTRY_PRESENT = 0x01
ENTRY_RECEIVED_FLG = 0x02

# type, flags, ring rep, ring seq, token_seq, seq, aru, aru_addr, fcc, backlog, sender, rtr count
ORF_TOKEN = struct.Struct(">BBIQQQQIIIIH")
RTR_ENTRY = struct.Struct(">Q")
# type, flags, ring rep, ring seq, seq, sender, payload length  (an inner Mcast has no type)
MCAST = struct.Struct(">BBIQQII")
MCAST_INNER_HEAD = struct.Struct(">BIQQII")
# type, flags, sender, ring_seq, proc count, failed count
MEMB_JOIN = struct.Struct(">BBIQHH")
# type, flags, ring rep, ring seq, token_seq, memb_index, sender, addr count, entry count
COMMIT_TOKEN = struct.Struct(">BBIQQHIHH")
# flags, old ring rep, old ring seq, aru, high_delivered
MEMB_ENTRY = struct.Struct(">BIQQQ")
# type, flags, sender, ring rep, ring seq
RING_NOTICE = struct.Struct(">BBIIQ")

U32_MAX = 0xFFFF_FFFF
U16_MAX = 0xFFFF
_ABSENT_ENTRY = MEMB_ENTRY.pack(0, 0, 0, 0, 0)


class BodyError(ValueError):
    """A received body is not a valid message; ``reason`` is the drop reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


# ---- encoding -------------------------------------------------------------------------

def _node_ids(ids: frozenset[int] | tuple[int, ...], what: str) -> None:
    for n in ids:
        if not 0 < n <= U32_MAX:
            raise ValueError(f"{what}: node id {n!r} outside 1..{U32_MAX}")


def _encode_token(t: OrfToken) -> bytes:
    flags = TOKEN_RETRANS_FLG if t.retrans_flg else 0
    aru = t.aru
    if aru == -1:
        flags |= TOKEN_ARU_UNSET
        aru = 0
    rtr = t.rtr
    if len(rtr) > RETRANSMIT_ENTRIES_MAX:
        raise ValueError(f"OrfToken.rtr has {len(rtr)} entries, at most {RETRANSMIT_ENTRIES_MAX}")
    head = ORF_TOKEN.pack(T_ORF_TOKEN, flags, t.ring_id[0], t.ring_id[1], t.token_seq, t.seq,
                          aru, t.aru_addr, t.fcc, t.backlog, t.sender, len(rtr))
    if not rtr:
        return head
    return head + struct.pack(f">{len(rtr)}Q", *rtr)


def _encode_mcast(m: Mcast) -> bytes:
    inner = m.inner
    flags = MCAST_SAFE if m.safe else 0
    if m.ring_id[0] <= 0 or m.sender <= 0:
        raise ValueError(f"Mcast: ring representative and sender must be > 0, got {m.ring_id}, {m.sender}")
    if inner is None:
        return MCAST.pack(T_MCAST, flags, m.ring_id[0], m.ring_id[1], m.seq, m.sender,
                          len(m.payload)) + m.payload
    if inner.inner is not None:
        raise ValueError("Mcast.inner may nest one level only")
    if inner.ring_id[0] <= 0 or inner.sender <= 0:
        raise ValueError("Mcast.inner: ring representative and sender must be > 0")
    return b"".join((
        MCAST.pack(T_MCAST, flags | MCAST_INNER, m.ring_id[0], m.ring_id[1], m.seq, m.sender,
                   len(m.payload)),
        m.payload,
        MCAST_INNER_HEAD.pack(MCAST_SAFE if inner.safe else 0, inner.ring_id[0], inner.ring_id[1],
                              inner.seq, inner.sender, len(inner.payload)),
        inner.payload,
    ))


def _encode_join(j: MembJoin) -> bytes:
    proc, failed = sorted(j.proc), sorted(j.failed)
    _node_ids((j.sender,), "MembJoin.sender")
    _node_ids(j.proc, "MembJoin.proc")
    _node_ids(j.failed, "MembJoin.failed")
    if len(proc) > U16_MAX or len(failed) > U16_MAX:
        raise ValueError("MembJoin: too many members for the wire (65535 at most)")
    return (MEMB_JOIN.pack(T_MEMB_JOIN, 0, j.sender, j.ring_seq, len(proc), len(failed))
            + struct.pack(f">{len(proc) + len(failed)}I", *proc, *failed))


def _encode_commit(c: CommitToken) -> bytes:
    n = len(c.addrs)
    if len(c.entries) != n:
        raise ValueError(f"CommitToken: {len(c.entries)} entries for {n} addrs")
    if n > U16_MAX or not 0 <= c.memb_index <= n:
        raise ValueError(f"CommitToken: memb_index {c.memb_index} outside 0..{n}")
    _node_ids(c.addrs, "CommitToken.addrs")
    if c.ring_id[0] <= 0 or len(set(c.addrs)) != n:
        raise ValueError("CommitToken: ring representative must be > 0 and addrs unique")
    parts = [COMMIT_TOKEN.pack(T_COMMIT_TOKEN, 0, c.ring_id[0], c.ring_id[1], c.token_seq,
                               c.memb_index, c.sender, n, n),
             struct.pack(f">{n}I", *c.addrs)]
    for e in c.entries:
        if e is None:
            parts.append(_ABSENT_ENTRY)
        else:
            if e.ring_id[0] <= 0:
                raise ValueError("MembEntry: ring representative must be > 0")
            flags = ENTRY_PRESENT | (ENTRY_RECEIVED_FLG if e.received_flg else 0)
            parts.append(MEMB_ENTRY.pack(flags, e.ring_id[0], e.ring_id[1], e.aru, e.high_delivered))
    return b"".join(parts)


def _encode_notice(kind: int, sender: int, ring_id: tuple[int, int]) -> bytes:
    if sender <= 0 or ring_id[0] <= 0:
        raise ValueError(f"{TYPE_NAMES[kind]}: sender and ring representative must be > 0")
    return RING_NOTICE.pack(kind, 0, sender, ring_id[0], ring_id[1])


def encode_body(msg: Message) -> bytes:
    """Encode one Totem message; ``ValueError`` if a field does not fit the wire."""
    try:
        if type(msg) is Mcast:
            return _encode_mcast(msg)
        if type(msg) is OrfToken:
            return _encode_token(msg)
        if type(msg) is MembJoin:
            return _encode_join(msg)
        if type(msg) is CommitToken:
            return _encode_commit(msg)
        if type(msg) is MergeDetect:
            return _encode_notice(T_MERGE_DETECT, msg.sender, msg.ring_id)
        if type(msg) is TokenHoldCancel:
            return _encode_notice(T_TOKEN_HOLD_CANCEL, msg.sender, msg.ring_id)
    except struct.error as e:
        raise ValueError(f"{type(msg).__name__} does not fit the wire: {e}") from e
    raise ValueError(f"not a Totem message: {type(msg).__name__}")


# ---- decoding -------------------------------------------------------------------------

def _malformed(detail: str) -> BodyError:
    return BodyError("malformed", detail)


def _decode_token(b: bytes, off: int, end: int) -> OrfToken:
    if end - off < ORF_TOKEN.size:
        raise _malformed("orf_token shorter than its fixed fields")
    (_, flags, rep, rseq, token_seq, seq, aru, aru_addr, fcc, backlog, sender,
     n) = ORF_TOKEN.unpack_from(b, off)
    if flags & ~(TOKEN_RETRANS_FLG | TOKEN_ARU_UNSET):
        raise _malformed(f"orf_token flags {flags:#x}")
    if flags & TOKEN_ARU_UNSET:
        if aru:
            raise _malformed("orf_token aru set while flagged unset")
        aru = -1
    if n > RETRANSMIT_ENTRIES_MAX:
        raise _malformed(f"orf_token rtr count {n} > {RETRANSMIT_ENTRIES_MAX}")
    off += ORF_TOKEN.size
    if end - off != 8 * n:
        raise _malformed(f"orf_token has {end - off} bytes for {n} rtr entries")
    rtr = list(struct.unpack_from(f">{n}Q", b, off)) if n else []
    if rep == 0:
        raise _malformed("orf_token ring representative 0")
    return OrfToken((rep, rseq), token_seq, seq, aru, aru_addr, fcc, backlog,
                    bool(flags & TOKEN_RETRANS_FLG), rtr, sender)


def _decode_mcast(b: bytes, off: int, end: int) -> Mcast:
    if end - off < MCAST.size:
        raise _malformed("mcast shorter than its fixed fields")
    _, flags, rep, rseq, seq, sender, n = MCAST.unpack_from(b, off)
    if flags & ~(MCAST_SAFE | MCAST_INNER) or rep == 0 or sender == 0:
        raise _malformed("mcast flags, ring representative or sender")
    off += MCAST.size
    stop = off + n
    if flags & MCAST_INNER:
        if end - stop < MCAST_INNER_HEAD.size:
            raise _malformed("mcast payload length overruns its inner message")
        payload = b[off:stop]
        iflags, irep, irseq, iseq, isender, ilen = MCAST_INNER_HEAD.unpack_from(b, stop)
        if iflags & ~MCAST_SAFE or irep == 0 or isender == 0:
            raise _malformed("inner mcast flags (nests deeper than one level?) or ids")
        ioff = stop + MCAST_INNER_HEAD.size
        if end - ioff != ilen:
            raise _malformed(f"inner mcast declares {ilen} payload bytes, has {end - ioff}")
        inner = Mcast((irep, irseq), iseq, isender, bool(iflags), b[ioff:end])
        return Mcast((rep, rseq), seq, sender, bool(flags & MCAST_SAFE), payload, inner)
    if stop != end:
        raise _malformed(f"mcast declares {n} payload bytes, has {end - off}")
    return Mcast((rep, rseq), seq, sender, bool(flags), b[off:end])


def _id_list(b: bytes, off: int, n: int, what: str, ascending: bool) -> tuple[int, ...]:
    ids: tuple[int, ...] = struct.unpack_from(f">{n}I", b, off) if n else ()
    if 0 in ids or len(set(ids)) != n:
        raise _malformed(f"{what}: node id 0 or duplicate")
    if ascending and any(a > b for a, b in zip(ids, ids[1:], strict=False)):
        raise _malformed(f"{what}: a set's ids are sent in ascending order")
    return ids


def _decode_join(b: bytes, off: int, end: int) -> MembJoin:
    if end - off < MEMB_JOIN.size:
        raise _malformed("memb_join shorter than its fixed fields")
    _, flags, sender, ring_seq, np_, nf = MEMB_JOIN.unpack_from(b, off)
    off += MEMB_JOIN.size
    if flags or sender == 0:
        raise _malformed("memb_join flags or sender 0")
    if end - off != 4 * (np_ + nf):
        raise _malformed(f"memb_join has {end - off} bytes for {np_}+{nf} ids")
    proc = _id_list(b, off, np_, "memb_join proc", True)
    failed = _id_list(b, off + 4 * np_, nf, "memb_join failed", True)
    return MembJoin(sender, frozenset(proc), frozenset(failed), ring_seq)


def _decode_commit(b: bytes, off: int, end: int) -> CommitToken:
    if end - off < COMMIT_TOKEN.size:
        raise _malformed("commit_token shorter than its fixed fields")
    _, flags, rep, rseq, token_seq, memb_index, sender, na, ne = COMMIT_TOKEN.unpack_from(b, off)
    off += COMMIT_TOKEN.size
    if flags or rep == 0:
        raise _malformed("commit_token flags or ring representative 0")
    if ne != na:
        raise _malformed(f"commit_token has {ne} entries for {na} addrs")
    if memb_index > na:
        raise _malformed(f"commit_token memb_index {memb_index} > {na} members")
    if end - off != na * (4 + MEMB_ENTRY.size):
        raise _malformed(f"commit_token has {end - off} bytes for {na} members")
    addrs = _id_list(b, off, na, "commit_token addrs", False)
    off += 4 * na
    entries: list[MembEntry | None] = []
    for _ in range(ne):
        eflags, erep, erseq, aru, high = MEMB_ENTRY.unpack_from(b, off)
        off += MEMB_ENTRY.size
        if not eflags & ENTRY_PRESENT:
            if eflags or erep or erseq or aru or high:
                raise _malformed("absent commit_token entry with non-zero fields")
            entries.append(None)
            continue
        if eflags & ~(ENTRY_PRESENT | ENTRY_RECEIVED_FLG) or erep == 0:
            raise _malformed("commit_token entry flags or ring representative 0")
        entries.append(MembEntry((erep, erseq), aru, high, bool(eflags & ENTRY_RECEIVED_FLG)))
    return CommitToken((rep, rseq), token_seq, memb_index, addrs, tuple(entries), sender)


def _decode_notice(b: bytes, off: int, end: int) -> MergeDetect | TokenHoldCancel:
    if end - off != RING_NOTICE.size:
        raise _malformed(f"merge_detect/token_hold_cancel of {end - off} bytes")
    kind, flags, sender, rep, rseq = RING_NOTICE.unpack_from(b, off)
    if flags or sender == 0 or rep == 0:
        raise _malformed("merge_detect/token_hold_cancel flags, sender or ring representative")
    if kind == T_MERGE_DETECT:
        return MergeDetect(sender, (rep, rseq))
    return TokenHoldCancel(sender, (rep, rseq))


_DECODERS: dict[int, Callable[[bytes, int, int], Message]] = {
    T_ORF_TOKEN: _decode_token,
    T_MCAST: _decode_mcast,
    T_MEMB_JOIN: _decode_join,
    T_COMMIT_TOKEN: _decode_commit,
    T_MERGE_DETECT: _decode_notice,
    T_TOKEN_HOLD_CANCEL: _decode_notice,
}


def decode_body(b: bytes, off: int = 0, end: int | None = None) -> Message:
    """Decode the message in ``b[off:end]``; raise :class:`BodyError` if it is not one."""
    if end is None:
        end = len(b)
    if end <= off:
        raise _malformed("empty body")
    decoder = _DECODERS.get(b[off])
    if decoder is None:
        raise BodyError("unknown_type", f"message type {b[off]}")
    try:
        return decoder(b, off, end)
    except struct.error as e:  # a defect in a length check above; never escapes as such
        raise _malformed(f"truncated field: {e}") from e
