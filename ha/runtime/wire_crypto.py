"""The envelope of a hastack datagram: header layout, keys, HMAC and AES-256-GCM.

Every datagram is ``header (28 bytes) | body | HMAC-SHA-256 (32 bytes)``. With
``crypto_cipher: aes256`` the body is AES-256-GCM ciphertext followed by its 16-byte
tag, with the header as associated data. The HMAC covers header and body as sent
(encrypt-then-MAC), so a forged or damaged datagram is refused by one cheap check
before any parsing or decryption.

Keys (HKDF-SHA256, RFC 5869, written out with :mod:`hmac`):

- ``PRK = HMAC-SHA256(salt="hastack wire v1", authkey)``
- HMAC key ``= HKDF-Expand(PRK, "hmac-sha256\\0" + cluster_name)``: one per cluster,
  so two clusters that share an authkey file still refuse each other's packets;
- AES key ``= HKDF-Expand(PRK, "aes-256-gcm\\0" + cluster_name + "\\0" + sender u32 +
  incarnation u64)``: one per sending node and incarnation, with the 96-bit GCM nonce
  ``0x00000000 + counter u64``. The packet counter never repeats within an
  incarnation and an incarnation never repeats for a node, so no (key, nonce) pair is
  ever used twice, even though every node holds the same authkey.

Per datagram the HMAC is computed by :class:`HmacSha256` from precomputed keyed
states, which is what makes small datagrams cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"HS"
VERSION = 1
FLAG_ENCRYPTED = 0x01
KNOWN_FLAGS = FLAG_ENCRYPTED

HEADER = struct.Struct(">2sBBIQQHH")
"""magic, version, flags, sender node id, incarnation, packet counter, fragment index,
fragment count — 28 bytes."""
HEADER_LEN = HEADER.size
MAC_LEN = 32
TAG_LEN = 16
IP_UDP_OVERHEAD = 28
"""IPv4 (20) + UDP (8): a datagram of ``mtu - 28`` bytes fills one IPv4 packet."""
U64_MAX = (1 << 64) - 1

_SALT = b"hastack wire v1"
_NONCE_PAD = b"\x00\x00\x00\x00"
_SENDER_INCARNATION = struct.Struct(">IQ")


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF (RFC 5869) with SHA-256: extract, then expand to ``length`` bytes."""
    if not 0 < length <= 255 * 32:
        raise ValueError(f"hkdf length {length} outside 1..{255 * 32}")
    prk = hmac.digest(salt, ikm, "sha256")
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes((i,)), "sha256")
        out += block
        i += 1
    return out[:length]


class WireKeys:
    """The keys one cluster's datagrams are authenticated and encrypted with."""

    __slots__ = ("_authkey", "_cluster", "mac", "mac_key")

    def __init__(self, authkey: bytes, cluster_name: str) -> None:
        if not isinstance(authkey, bytes | bytearray) or not authkey:
            raise ValueError("authkey must be non-empty bytes")
        self._authkey = bytes(authkey)
        self._cluster = cluster_name.encode("utf-8")
        self.mac_key = hkdf_sha256(self._authkey, _SALT, b"hmac-sha256\x00" + self._cluster)
        self.mac = HmacSha256(self.mac_key)

    def aead_for(self, sender: int, incarnation: int) -> AESGCM:
        """The AES-256-GCM cipher for datagrams of ``sender`` in ``incarnation``."""
        info = (b"aes-256-gcm\x00" + self._cluster + b"\x00"
                + _SENDER_INCARNATION.pack(sender, incarnation))
        return AESGCM(hkdf_sha256(self._authkey, _SALT, info))


def gcm_nonce(counter: int) -> bytes:
    """The 96-bit GCM nonce of a datagram: four zero bytes and the packet counter."""
    return _NONCE_PAD + counter.to_bytes(8, "big")


class HmacSha256:
    """HMAC-SHA-256 (RFC 2104) with the keyed inner and outer hash states computed once.

    Per datagram this costs two SHA-256 state copies instead of re-deriving the padded
    key each time, which halves the cost of ``hmac.digest`` on small packets (OpenSSL 3's
    one-shot HMAC spends most of its time on setup). Equal to ``hmac.digest(key, data,
    "sha256")`` for every key and message.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, data: bytes | memoryview) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def seal(self, header: bytes, body: bytes) -> bytes:
        """A complete datagram: ``header + body + HMAC(header + body)``.

        ``body`` is already encrypted when the cluster uses a cipher. Public so that
        tests and tools can build authenticated datagrams with any header fields.
        """
        data = header + body
        return data + self.digest(data)

    def verify(self, data: bytes) -> bool:
        """True if the trailing 32 bytes of ``data`` are the HMAC of the rest
        (constant-time comparison)."""
        # Copying a datagram-sized slice is cheaper than creating memoryviews.
        return hmac.compare_digest(self.digest(data[:-MAC_LEN]), data[-MAC_LEN:])
