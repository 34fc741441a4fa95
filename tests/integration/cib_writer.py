"""The writer the CIB kill test murders: saves CIB after CIB and acknowledges each one.

A writer opens a ``CibStore`` on a directory and loops: CIB ``i`` carries ``epoch="i"``
and a payload of 5-50 KB (seeded, varying); once ``save()`` has returned it writes
``ack i`` to stdout (one unbuffered ``write``), so "acknowledged" means "save returned".

Two ways to run it:

- ``python cib_writer.py DIR START_EPOCH SEED``: one writer, until killed.
- ``python cib_writer.py --serve``: a fork server, so that the test pays the start-up
  and imports once and not on each of its thousand kills. For every line
  ``run DIR START_EPOCH SEED`` on stdin it forks a fresh writer process, which prints
  ``pid N`` and then its acks; when that process is gone the server prints
  ``exit STATUS`` (the raw ``waitpid`` status). Every line a writer wrote therefore
  precedes its ``exit`` line. The server ends at end of input.
"""

from __future__ import annotations

import os
import random
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ha.cib.store import CibStore  # noqa: E402  (after the path above)

MAX_SAVES = 10_000  # a writer nobody kills stops on its own


def cib_bytes(epoch: int, rng: random.Random) -> bytes:
    """A CIB at ``epoch`` with 5-50 KB of primitives, as Pacemaker would write it."""
    count = rng.randint(17, 170)  # ~285 bytes each
    resources = "".join(
        f'<primitive id="r{epoch}-{n}" class="ocf" provider="heartbeat" type="Dummy">'
        f'<instance_attributes id="r{epoch}-{n}-ia">'
        f'<nvpair id="r{epoch}-{n}-ia-s" name="state" value="/run/r{n}.{rng.getrandbits(32):08x}"/>'
        f'</instance_attributes><operations><op id="r{epoch}-{n}-mon" name="monitor" '
        f'interval="10s"/></operations></primitive>'
        for n in range(count))
    return (f'<cib crm_feature_set="3.19.0" validate-with="pacemaker-3.9" epoch="{epoch}" '
            f'num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/>'
            f'<resources>{resources}</resources><constraints/></configuration><status/></cib>'
            ).encode()


def write_until_killed(directory: str, start_epoch: int, seed: int) -> None:
    rng = random.Random(seed)
    store = CibStore(directory)
    for epoch in range(start_epoch, start_epoch + MAX_SAVES):
        store.save(cib_bytes(epoch, rng))
        os.write(1, f"ack {epoch}\n".encode("ascii"))


def serve() -> None:
    for line in sys.stdin:
        command, directory, start_epoch, seed = line.split()
        assert command == "run", line
        pid = os.fork()
        if pid == 0:  # the writer: it must never return into the server's loop
            try:
                os.write(1, f"pid {os.getpid()}\n".encode("ascii"))
                write_until_killed(directory, int(start_epoch), int(seed))
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        os.write(1, f"exit {status}\n".encode("ascii"))


def main(argv: list[str]) -> None:
    if argv == ["--serve"]:
        serve()
    elif len(argv) == 3:
        write_until_killed(argv[0], int(argv[1]), int(argv[2]))
    else:
        sys.exit(f"usage: {sys.argv[0]} --serve | DIR START_EPOCH SEED")


if __name__ == "__main__":
    main(sys.argv[1:])
