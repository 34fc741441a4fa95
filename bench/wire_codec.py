"""Benchmark: the wire codec (ha.runtime.wire.PacketCodec). Prints one JSON object.

For each case, one node's codec encodes a message and another node's codec decodes
the datagram (the daemon's per-message work: one encode, one decode per receiver),
repeated for about ``--seconds`` of wall time; the figure is round-trips per second on
one core. Cases: an ``Mcast`` with a 100-byte and a 1 KiB payload, an ``OrfToken``
with an empty rtr list, and a 64 KiB ``Mcast`` (47 fragments at mtu 1500), each with
``cipher none`` (HMAC-SHA-256 only) and ``aes256`` (AES-256-GCM + HMAC).
Also ``datagram_bytes``: the size on the wire (UDP payload) of each case.

Usage: ``python bench/wire_codec.py [--seconds 1.0]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from ha.runtime.wire import PacketCodec
from ha.totem.messages import Mcast, Message, OrfToken

KEY = bytes(range(256))


def _codecs(cipher: str) -> tuple[PacketCodec, PacketCodec]:
    tx = PacketCodec(node_id=1, key=KEY, cluster_name="bench", cipher=cipher, incarnation=1)
    rx = PacketCodec(node_id=2, key=KEY, cluster_name="bench", cipher=cipher, incarnation=1)
    return tx, rx


def round_trips_per_s(msg: Message, cipher: str, seconds: float) -> tuple[float, int]:
    tx, rx = _codecs(cipher)
    encode, decode = tx.encode, rx.decode
    done, batch = 0, 200
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(batch):
            out = None
            for d in encode(msg):
                out = decode(d, 1, 0.0)
            assert out is not None
        done += batch
        now = time.perf_counter()
        if now >= deadline:
            break
    assert not rx.drops, rx.drops
    size = len(tx.encode(msg)[0])
    return done / (now - t0), size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    cases: dict[str, Message] = {
        "mcast_100B": Mcast((1, 7), 1234, 1, False, b"x" * 100),
        "mcast_1KiB": Mcast((1, 7), 1234, 1, False, b"x" * 1024),
        "orf_token": OrfToken((1, 7), 55, 1234, 1200, 2, 17, 3, False, [], 1),
        "mcast_64KiB_fragmented": Mcast((1, 7), 1234, 1, False, b"x" * 65536),
    }
    rates: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for cipher in ("none", "aes256"):
        for name, msg in cases.items():
            rate, size = round_trips_per_s(msg, cipher, args.seconds)
            rates[f"{name}_{cipher}"] = round(rate)
            sizes[f"{name}_{cipher}"] = size
    print(json.dumps({"benchmark": "wire_codec", "python": platform.python_version(),
                      "round_trips_per_s": rates, "datagram_bytes": sizes}, sort_keys=True))


if __name__ == "__main__":
    main()
