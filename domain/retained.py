"""Retained-message budgets per partner: what the broker keeps for a partner, counted.

Mosquitto 2.0 keeps any number of retained messages for anyone (each one only capped in size by
`max_packet_size`): one partner could fill the broker's memory and its persistence file. The
retain guard (ingest/retained.py) sees every retained message as published and asks this ledger
which ones to clear. The first ones within the budget stay; a new retained topic past the count
or byte budget is cleared again at once, and so is a replacement that makes the partner's bytes
exceed the budget. Defaults are far above what a partner's devices need (one retained status per
device). Pure logic, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RetainedLedger:
    max_messages: int
    max_bytes: int
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Partner → retained topic → payload size, as the broker holds them."""

    def seen(self, partner: str, topic: str, size: int) -> bool:
        """A retained message (size 0: a deletion) arrived; False when it must be cleared."""
        kept = self.sizes.setdefault(partner, {})
        if size == 0:
            kept.pop(topic, None)
            return True
        others = sum(kept.values()) - kept.get(topic, 0)
        over_count = topic not in kept and len(kept) >= self.max_messages
        if over_count or others + size > self.max_bytes:
            kept.pop(topic, None)
            return False
        kept[topic] = size
        return True

    def usage(self, partner: str) -> tuple[int, int]:
        """(messages, bytes) the broker retains for `partner` now."""
        kept = self.sizes.get(partner, {})
        return len(kept), sum(kept.values())
