"""Process groups, like Corosync's CPG, on top of Totem's agreed order.

A group is a name that daemons join and leave. Joins, leaves and messages are
ordered Totem messages, so every member of a group sees the group's messages and its
membership changes in the same total order. On a configuration change:

- transitional configuration: members on nodes that left are removed from every group
  (one change per affected group);
- regular configuration: each node multicasts its *joinlist* (the groups it is in);
  a node adds the members it did not know of yet. Nodes that were together keep their
  shared view, so only the nodes that merged in are announced as joined.

Wire form of a group message (the payload of a Totem message, after the service
byte): ``J<name>`` join, ``L<name>`` leave, ``S<name>\\0<name>…`` joinlist,
``M<len><name><data>`` message. Names are 1–127 bytes of UTF-8 without NUL.
"""

from __future__ import annotations

from ha.totem.effects import GroupChange, GroupMessage
from ha.totem.messages import RingId

GroupEvent = GroupChange | GroupMessage


class GroupError(ValueError):
    """A caller asked for something a group cannot do (bad name, not a member)."""


class GroupMessageError(ValueError):
    """A peer sent a group message that does not parse; it is dropped and counted."""


def _check_name(group: str) -> bytes:
    raw = group.encode()
    if not 1 <= len(raw) <= 127 or b"\0" in raw:
        raise GroupError(f"group name {group!r}: expected 1-127 bytes of UTF-8 without NUL")
    return raw


class ProcessGroups:
    """The group table of one node; a sans-IO core fed with agreed deliveries."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.members: dict[str, set[int]] = {}
        self.local: set[str] = set()

    # ---- requests from the local daemon (return the payload to multicast) -----------
    def join(self, group: str) -> bytes:
        return b"J" + _check_name(group)

    def leave(self, group: str) -> bytes:
        raw = _check_name(group)
        if group not in self.local:
            raise GroupError(f"group {group!r}: this node is not a member")
        return b"L" + raw

    def send(self, group: str, data: bytes) -> bytes:
        raw = _check_name(group)
        return b"M" + bytes([len(raw)]) + raw + data

    def view(self, group: str) -> tuple[int, ...]:
        return tuple(sorted(self.members.get(group, ())))

    # ---- configuration changes ------------------------------------------------------
    def on_transitional(self, members: tuple[int, ...]) -> list[GroupEvent]:
        keep = set(members)
        events: list[GroupEvent] = []
        for group in sorted(self.members):
            gone = tuple(sorted(self.members[group] - keep))
            if gone:
                self.members[group] &= keep
                if group in self.local:
                    events.append(GroupChange(group, self.view(group), left=gone))
        return events

    def on_regular(self) -> bytes | None:
        if not self.local:
            return None
        return b"S" + b"\0".join(g.encode() for g in sorted(self.local))

    # ---- agreed deliveries ----------------------------------------------------------
    def deliver(self, sender: int, data: bytes, ring_id: RingId, seq: int) -> list[GroupEvent]:
        if not data:
            raise GroupMessageError("empty group message")
        kind, body = data[:1], data[1:]
        if kind == b"M":
            if not body or len(body) < 1 + body[0] or body[0] == 0:
                raise GroupMessageError("group message: truncated name")
            n = body[0]
            group = body[1:1 + n].decode(errors="strict")
            if self.node_id in self.members.get(group, ()):
                return [GroupMessage(group, sender, body[1 + n:], ring_id, seq)]
            return []
        if kind == b"J":
            return self._add(sender, [body.decode()])
        if kind == b"L":
            group = body.decode()
            if sender not in self.members.get(group, ()):
                return []
            self.members[group].discard(sender)
            if sender == self.node_id:
                self.local.discard(group)
                return [GroupChange(group, self.view(group), left=(sender,))]
            if group in self.local:
                return [GroupChange(group, self.view(group), left=(sender,))]
            return []
        if kind == b"S":
            return self._add(sender, [g.decode() for g in body.split(b"\0") if g])
        raise GroupMessageError(f"group message: unknown kind {kind!r}")

    def _add(self, sender: int, groups: list[str]) -> list[GroupEvent]:
        events: list[GroupEvent] = []
        for group in groups:
            _check_name(group)
            members = self.members.setdefault(group, set())
            if sender in members:
                continue
            members.add(sender)
            if sender == self.node_id:
                self.local.add(group)
            if group in self.local:
                events.append(GroupChange(group, self.view(group), joined=(sender,)))
        return events
