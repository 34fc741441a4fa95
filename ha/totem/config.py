"""Totem timing and flow-control parameters, with Corosync's names and defaults.

The names are those of corosync.conf(5)'s ``totem { }`` section, so that a user can
carry a value from a Corosync cluster to hastack unchanged. Derived values follow
Corosync's totemconfig.c:

- token timeout = ``token + (nodes - 2) * token_coefficient`` when the nodelist has
  three or more nodes (the coefficient is added per node beyond two);
- consensus = 1.2 × token timeout unless set;
- token_retransmit = token timeout / (token_retransmits_before_loss_const + 0.2);
- hold = token_retransmit × 0.8 - 10 ms (how long an idle ring's representative keeps
  the token before passing it on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


class TotemConfigError(ValueError):
    """A Totem parameter is out of range; the message names the parameter."""


@dataclass(frozen=True)
class TotemConfig:
    """Totem parameters in milliseconds / counts, as corosync.conf names them."""

    token: int = 3000
    token_coefficient: int = 650
    consensus: int | None = None
    join: int = 50
    merge: int = 200
    fail_recv_const: int = 2500
    seqno_unchanged_const: int = 30
    window_size: int = 50
    max_messages: int = 17
    miss_count_const: int = 5
    token_retransmits_before_loss_const: int = 4
    token_retransmit: int | None = None
    hold: int | None = None
    nodes: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        positive = (
            "token", "join", "merge", "fail_recv_const", "seqno_unchanged_const",
            "window_size", "max_messages", "miss_count_const",
            "token_retransmits_before_loss_const",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise TotemConfigError(f"totem.{name}: expected a positive integer, got {value!r}")
        if self.token_coefficient < 0:
            raise TotemConfigError(
                f"totem.token_coefficient: expected an integer >= 0, got {self.token_coefficient!r}")
        if self.max_messages > self.window_size:
            raise TotemConfigError(
                f"totem.max_messages ({self.max_messages}) may not exceed "
                f"totem.window_size ({self.window_size})")
        if len(set(self.nodes)) != len(self.nodes) or any(n <= 0 for n in self.nodes):
            raise TotemConfigError(f"nodelist: node ids must be unique and positive, got {self.nodes!r}")
        if self.consensus is not None and self.consensus < 1.2 * self.token_timeout_ms * 0.999:
            # Corosync refuses a consensus shorter than 1.2 × token.
            raise TotemConfigError(
                f"totem.consensus ({self.consensus} ms) must be at least 1.2 × token "
                f"({self.token_timeout_ms} ms)")

    @cached_property
    def token_timeout_ms(self) -> int:
        extra = max(0, len(self.nodes) - 2) * self.token_coefficient
        return self.token + extra

    @cached_property
    def consensus_timeout_ms(self) -> int:
        if self.consensus is not None:
            return self.consensus
        return int(self.token_timeout_ms * 1.2)

    @cached_property
    def token_retransmit_timeout_ms(self) -> int:
        if self.token_retransmit is not None:
            return self.token_retransmit
        return int(self.token_timeout_ms / (self.token_retransmits_before_loss_const + 0.2))

    @cached_property
    def hold_timeout_ms(self) -> int:
        if self.hold is not None:
            return self.hold
        return max(1, int(self.token_retransmit_timeout_ms * 0.8 - 10))
