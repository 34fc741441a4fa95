"""PacketCodec: Totem messages to authenticated UDP datagrams and back.

The daemon encodes each Totem message once (:meth:`PacketCodec.encode`) and sends the
same datagram(s) to every destination; it hands every received datagram to
:meth:`PacketCodec.decode`, which returns the message, or ``None`` when the datagram
was dropped (counted in ``drops`` under its reason) or is a fragment of a message not
yet complete. Nothing a peer sends makes ``decode`` raise (DESIGN.md rule 4).

Datagram = header (28 bytes) | body | HMAC-SHA-256 (32 bytes); see
:mod:`ha.runtime.wire_crypto` for the header and keys, :mod:`ha.runtime.wire_body` for
the body, and ``docs/packets.md`` for the byte tables.

Checks on receipt, in this order (the first that fails names the drop reason):

=================== ==========================================================
``short``           shorter than header + HMAC (+ GCM tag when encrypted)
``bad_magic``       not ``b"HS"``: not hastack traffic
``bad_version``     a wire version this codec does not speak
``bad_flags``       unknown header flag bits
``bad_hmac``        forged, damaged, or another cluster / authkey
``sender_mismatch`` header sender is not the node the source address belongs to
``cipher_mismatch`` encrypted while we run ``cipher none``, or the reverse
``bad_fragment``    counter 0, fragment count 0, index >= count, index > counter,
                    an empty fragment, or a count unlike its siblings'
``oversize``        more fragments or bytes than ``max_message`` allows
``stale_incarnation`` from an older incarnation of the sender (it has restarted)
``replay``          counter already seen, or older than the anti-replay window
``decrypt_failed``  AES-256-GCM tag does not verify
``unknown_type``    body type byte unknown
``malformed``       body fields inconsistent (see :mod:`ha.runtime.wire_body`)
``reassembly_timeout``, ``reassembly_overflow``  a partial message was abandoned;
                    each fragment it held is counted once
=================== ==========================================================

A reassembled message whose body is refused (``unknown_type``, ``malformed``) counts
each of its fragments, so that every dropped datagram is counted exactly once.

Replay protection works like IPsec's: per sender, the highest packet counter seen in
its current incarnation and a bitmap of the ``REPLAY_WINDOW`` counters below it. A
higher incarnation (the peer restarted) resets the window and abandons the peer's
partial messages; state changes only after the HMAC and decryption have succeeded, so
a forged datagram cannot move the window.
"""

from __future__ import annotations

import collections
import math

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ha.runtime.wire_body import BodyError, decode_body, encode_body
from ha.runtime.wire_crypto import (
    FLAG_ENCRYPTED,
    HEADER,
    HEADER_LEN,
    IP_UDP_OVERHEAD,
    KNOWN_FLAGS,
    MAC_LEN,
    MAGIC,
    TAG_LEN,
    U64_MAX,
    VERSION,
    WireKeys,
    gcm_nonce,
)
from ha.totem.messages import Message

REPLAY_WINDOW = 1024
"""Counters this far below the highest seen are still accepted once (reordering)."""
PARTIALS_PER_SENDER_MAX = 4
"""Messages of one sender being reassembled at once; a fifth evicts the oldest."""
PARTIAL_BUFFERS = 4
"""All partial messages together hold at most this many ``max_message`` bodies."""
BODY_SLACK = 65536
"""A body may exceed ``max_message`` (the payload bound) by this much: headers, an
encapsulated inner message, member lists."""
MIN_MTU = 576
MAX_MTU = 65535
CIPHERS = ("none", "aes256")
STAT_NAMES = ("sent_messages", "sent_packets", "sent_bytes", "fragments_sent", "recv_packets",
              "recv_bytes", "recv_messages", "fragments_received", "reassembled")
_WINDOW_MASK = (1 << REPLAY_WINDOW) - 1
_MIN_CHUNK = MIN_MTU - IP_UDP_OVERHEAD - HEADER_LEN - MAC_LEN - TAG_LEN


class _Peer:
    """What we know of one sender: its incarnation, anti-replay window, GCM cipher."""

    __slots__ = ("aead", "highest", "incarnation", "partials", "seen")

    def __init__(self, incarnation: int, aead: AESGCM | None) -> None:
        self.incarnation = incarnation
        self.highest = 0
        self.seen = 0  # bit i: counter (highest - i) was accepted
        self.aead = aead
        self.partials = 0


class _Partial:
    """A message of several fragments being reassembled (keyed by sender, first counter)."""

    __slots__ = ("chunks", "count", "deadline", "size")

    def __init__(self, count: int, deadline: float) -> None:
        self.count = count
        self.deadline = deadline
        self.chunks: dict[int, bytes] = {}
        self.size = 0


class PacketCodec:
    """Encode Totem messages for one node and decode what its peers send.

    ``incarnation`` must strictly grow across restarts of this node (it keys the
    anti-replay window and the GCM nonces): ``max(time.time_ns(), last + 1)`` with
    ``last`` persisted before the first send. Packet counters start at 1 in each
    incarnation. A node that comes back with a lower incarnation is dropped as
    ``stale_incarnation`` by every peer that saw the higher one, until they restart.

    Each datagram may reach a given receiver once: send the datagrams of one
    ``encode`` to as many *different* members as needed, but to resend a message to
    the same member (token retransmission) encode it again, or the copy is a
    ``replay``. ``max_datagram`` is the largest datagram ``encode`` makes
    (``mtu - 28``).
    """

    def __init__(self, *, node_id: int, key: bytes, cluster_name: str,
                 cipher: str = "none", mtu: int = 1500, incarnation: int,
                 max_message: int = 1 << 20, reassembly_timeout_s: float = 5.0) -> None:
        if not 0 < node_id <= 0xFFFF_FFFF:
            raise ValueError(f"node_id {node_id!r} outside 1..{0xFFFF_FFFF}")
        if cipher not in CIPHERS:
            raise ValueError(f"cipher {cipher!r}: supported are {', '.join(CIPHERS)}")
        if not MIN_MTU <= mtu <= MAX_MTU:
            raise ValueError(f"mtu {mtu!r} outside {MIN_MTU}..{MAX_MTU}")
        if not 0 <= incarnation <= U64_MAX:
            raise ValueError(f"incarnation {incarnation!r} outside 0..2**64-1")
        if max_message < 1 or not reassembly_timeout_s > 0:
            raise ValueError("max_message and reassembly_timeout_s must be positive")
        self.node_id = node_id
        self.incarnation = incarnation
        self.cipher = cipher
        self.drops: collections.Counter[str] = collections.Counter()
        self._sent_messages = self._sent_packets = self._sent_bytes = self._fragments_sent = 0
        self._recv_packets = self._recv_bytes = self._recv_messages = 0
        self._fragments_received = self._reassembled = 0
        self._keys = WireKeys(key, cluster_name)
        self._mac = self._keys.mac
        self._encrypt = cipher == "aes256"
        self._flags = FLAG_ENCRYPTED if self._encrypt else 0
        self._aead = self._keys.aead_for(node_id, incarnation) if self._encrypt else None
        tag = TAG_LEN if self._encrypt else 0
        self.max_datagram = mtu - IP_UDP_OVERHEAD
        self._chunk_max = self.max_datagram - HEADER_LEN - MAC_LEN - tag
        self._min_datagram = HEADER_LEN + MAC_LEN + tag
        self._body_limit = max_message + BODY_SLACK
        if math.ceil(self._body_limit / self._chunk_max) > 0xFFFF:
            raise ValueError(f"max_message {max_message} needs more than 65535 fragments at mtu {mtu}")
        self._max_fragments = min(0xFFFF, math.ceil(self._body_limit / _MIN_CHUNK))
        self._buffer_limit = PARTIAL_BUFFERS * self._body_limit
        self._timeout = reassembly_timeout_s
        self._counter = 0
        self._peers: dict[int, _Peer] = {}
        self._partials: dict[tuple[int, int], _Partial] = {}  # insertion order = age
        self._buffered = 0
        self._next_expiry = math.inf

    @property
    def stats(self) -> collections.Counter[str]:
        """Traffic counters, a snapshot: ``sent_messages``, ``sent_packets`` (datagrams
        made by ``encode``; the daemon may send each to several members),
        ``sent_bytes``, ``fragments_sent``, ``recv_packets`` and ``recv_bytes`` (every
        datagram given to ``decode``), ``recv_messages`` (messages returned),
        ``fragments_received`` (fragments accepted for reassembly), ``reassembled``.
        Kept as plain integers so that counting costs nothing on the fast path."""
        return collections.Counter({name: getattr(self, "_" + name) for name in STAT_NAMES})

    # ---- sending ----------------------------------------------------------------------
    def encode(self, msg: Message) -> list[bytes]:
        """The datagram(s) carrying ``msg``; ``ValueError`` if it cannot be carried."""
        body = encode_body(msg)
        n = len(body)
        self._sent_messages += 1
        if n <= self._chunk_max:
            c = self._counter = self._counter + 1
            hdr = HEADER.pack(MAGIC, VERSION, self._flags, self.node_id, self.incarnation, c, 0, 1)
            if self._aead is not None:
                body = self._aead.encrypt(gcm_nonce(c), body, hdr)
            data = self._mac.seal(hdr, body)
            self._sent_packets += 1
            self._sent_bytes += len(data)
            return [data]
        if n > self._body_limit:
            raise ValueError(f"{type(msg).__name__} body of {n} bytes exceeds max_message "
                             f"({self._body_limit - BODY_SLACK}) + {BODY_SLACK}")
        return self._fragment(body)

    def _fragment(self, body: bytes) -> list[bytes]:
        size = self._chunk_max
        count = -(-len(body) // size)
        base = self._counter + 1
        if base + count > U64_MAX:
            raise ValueError("packet counter exhausted: restart with a higher incarnation")
        self._counter += count
        out = []
        view = memoryview(body)
        for i in range(count):
            c = base + i
            hdr = HEADER.pack(MAGIC, VERSION, self._flags, self.node_id, self.incarnation, c, i, count)
            piece = bytes(view[i * size:(i + 1) * size])
            if self._aead is not None:
                piece = self._aead.encrypt(gcm_nonce(c), piece, hdr)
            out.append(self._mac.seal(hdr, piece))
        self._sent_packets += count
        self._fragments_sent += count
        self._sent_bytes += sum(map(len, out))
        return out

    # ---- receiving --------------------------------------------------------------------
    def drop(self, reason: str) -> None:
        """Count one dropped datagram under ``reason`` (the daemon uses it for
        ``unknown_address``: a source not in the nodelist)."""
        self.drops[reason] += 1

    def _drop(self, reason: str) -> Message | None:
        self.drops[reason] += 1
        return None

    def decode(self, data: bytes, sender_node: int, now: float) -> Message | None:
        """The message in ``data`` from ``sender_node``, or ``None`` (dropped and counted,
        or a fragment of a message still incomplete). ``now`` is in seconds, any epoch."""
        self._recv_packets += 1
        self._recv_bytes += len(data)
        if self._partials and now >= self._next_expiry:
            self.expire(now)
        n = len(data)
        if n < HEADER_LEN + MAC_LEN:
            return self._drop("short")
        magic, version, flags, sender, inc, counter, index, count = HEADER.unpack_from(data)
        if magic != MAGIC:
            return self._drop("bad_magic")
        if version != VERSION:
            return self._drop("bad_version")
        if flags & ~KNOWN_FLAGS:
            return self._drop("bad_flags")
        if not self._mac.verify(data):
            return self._drop("bad_hmac")
        if sender != sender_node:
            return self._drop("sender_mismatch")
        if bool(flags & FLAG_ENCRYPTED) is not self._encrypt:
            return self._drop("cipher_mismatch")
        if n < self._min_datagram:
            return self._drop("short")
        if counter == 0 or count == 0 or index >= count or index >= counter:
            return self._drop("bad_fragment")
        if count > self._max_fragments:
            return self._drop("oversize")
        peer = self._peers.get(sender)
        fresh = peer is None or inc > peer.incarnation
        if peer is not None and not fresh:
            if inc < peer.incarnation:
                return self._drop("stale_incarnation")
            d = peer.highest - counter
            if d >= 0 and (d >= REPLAY_WINDOW or (peer.seen >> d) & 1):
                return self._drop("replay")
        aead = None
        if self._encrypt:
            aead = self._keys.aead_for(sender, inc) if fresh or peer is None else peer.aead
            assert aead is not None, "an encrypting codec keeps a cipher per peer"
            try:
                body = aead.decrypt(gcm_nonce(counter), data[HEADER_LEN:-MAC_LEN], data[:HEADER_LEN])
            except InvalidTag:
                return self._drop("decrypt_failed")
            start, end = 0, len(body)
        else:
            body, start, end = data, HEADER_LEN, n - MAC_LEN
        # Authenticated and fresh: only now does this datagram change any state.
        if fresh:
            peer = self._new_incarnation(sender, inc, aead)
        assert peer is not None
        d = peer.highest - counter
        if d < 0:
            peer.seen = ((peer.seen << -d) | 1) & _WINDOW_MASK if -d < REPLAY_WINDOW else 1
            peer.highest = counter
        else:
            peer.seen |= 1 << d
        if count == 1:
            return self._message(body, start, end)
        return self._add_fragment(peer, sender, counter - index, index, count,
                                  body[start:end], now)

    def _message(self, body: bytes, start: int, end: int, datagrams: int = 1) -> Message | None:
        try:
            msg = decode_body(body, start, end)
        except BodyError as e:
            # A refused message of several fragments drops each of its datagrams.
            self.drops[e.reason] += datagrams
            return None
        self._recv_messages += 1
        return msg

    def _new_incarnation(self, sender: int, inc: int, aead: AESGCM | None) -> _Peer:
        if sender in self._peers:
            for key in [k for k in self._partials if k[0] == sender]:
                self._abandon(key, "stale_incarnation")
        peer = self._peers[sender] = _Peer(inc, aead)
        return peer

    # ---- reassembly -------------------------------------------------------------------
    def _add_fragment(self, peer: _Peer, sender: int, base: int, index: int, count: int,
                      chunk: bytes, now: float) -> Message | None:
        key = (sender, base)
        p = self._partials.get(key)
        if not chunk or (p is not None and p.count != count):
            return self._drop("bad_fragment")
        if (p.size if p is not None else 0) + len(chunk) > self._body_limit:
            if p is not None:
                self._abandon(key, "oversize")
            return self._drop("oversize")
        if p is None:
            if peer.partials >= PARTIALS_PER_SENDER_MAX:
                self._abandon(next(k for k in self._partials if k[0] == sender), "reassembly_overflow")
            p = self._partials[key] = _Partial(count, now + self._timeout)
            peer.partials += 1
            self._next_expiry = min(self._next_expiry, p.deadline)
        while self._buffered + len(chunk) > self._buffer_limit:
            self._abandon(next(k for k in self._partials if k != key), "reassembly_overflow")
        p.chunks[index] = chunk
        p.size += len(chunk)
        self._buffered += len(chunk)
        self._fragments_received += 1
        if len(p.chunks) < count:
            return None
        self._remove(key)
        self._reassembled += 1
        body = b"".join([p.chunks[i] for i in range(count)])
        return self._message(body, 0, len(body), count)

    def _remove(self, key: tuple[int, int]) -> _Partial:
        p = self._partials.pop(key)
        self._buffered -= p.size
        self._peers[key[0]].partials -= 1
        return p

    def _abandon(self, key: tuple[int, int], reason: str) -> None:
        p = self._remove(key)
        if p.chunks:
            self.drops[reason] += len(p.chunks)

    def expire(self, now: float) -> None:
        """Abandon partial messages older than ``reassembly_timeout_s`` (``decode`` calls
        this itself; the daemon may call it from a timer so that memory is freed when
        no datagram arrives)."""
        for key in [k for k, p in self._partials.items() if p.deadline <= now]:
            self._abandon(key, "reassembly_timeout")
        self._next_expiry = min((p.deadline for p in self._partials.values()), default=math.inf)

    @property
    def pending_fragments(self) -> int:
        """Fragments held for messages not yet complete."""
        return sum(len(p.chunks) for p in self._partials.values())
