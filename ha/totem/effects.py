"""Effects: what a sans-IO core asks its runtime to do, and what it tells its user.

A core never performs I/O; each entry point returns a list of these, in order. The
asyncio runtime and the simulator interpret them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ha.totem.messages import Message, RingId


@dataclass(frozen=True, slots=True)
class Send:
    """Put ``msg`` on the wire: to one node, or (``dest`` None) to every other node of
    the nodelist, as udpu does a multicast (one datagram per member)."""

    dest: int | None
    msg: Message


@dataclass(frozen=True, slots=True)
class Deliver:
    """An ordered message delivered to the application (agreed or safe order)."""

    sender: int
    ring_id: RingId
    seq: int
    payload: bytes
    safe: bool


@dataclass(frozen=True, slots=True)
class ConfigurationChange:
    """A transitional or regular configuration, in extended-virtual-synchrony order."""

    transitional: bool
    ring_id: RingId
    members: tuple[int, ...]
    left: tuple[int, ...] = ()
    joined: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Persist:
    """Store durably: survives a crash and restart of the node (the ring sequence)."""

    key: str
    value: int


@dataclass(frozen=True, slots=True)
class Trace:
    """A structured trace event; runtimes write it as one JSON line."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


Effect = Send | Deliver | ConfigurationChange | Persist | Trace


@dataclass(frozen=True, slots=True)
class QuorumChange:
    """The node's quorum state changed (votequorum's notification)."""

    quorate: bool
    ring_id: RingId | None
    members: tuple[int, ...]
    expected_votes: int
    total_votes: int
    quorum: int
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupChange:
    """A process group's membership changed, as every member of the group sees it."""

    group: str
    members: tuple[int, ...]
    joined: tuple[int, ...] = ()
    left: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupMessage:
    """A message to a process group, delivered in the ring's total order."""

    group: str
    sender: int
    payload: bytes
    ring_id: RingId
    seq: int


NodeEffect = Effect | QuorumChange | GroupChange | GroupMessage


def change_record(e: ConfigurationChange | GroupChange) -> tuple[str, dict[str, Any]]:
    """The trace record (event, fields) of a configuration or group change, the same
    from the simulator and the daemon, so that one timeline tool reads both."""
    if isinstance(e, ConfigurationChange):
        return ("transitional" if e.transitional else "regular",
                {"ring_id": list(e.ring_id), "members": list(e.members),
                 "left": list(e.left), "joined": list(e.joined)})
    return ("group_change", {"group": e.group, "members": list(e.members),
                             "joined": list(e.joined), "left": list(e.left)})
