"""Flood protection: an entry that suddenly matches far more distinct content than its peers.

A list entry that is a near-flat image, a meme template or a logo can start matching everything
that looks like it. Counted per entry over a sliding window: the number of distinct contents
(by digest) it matched within threshold. An entry is held when that count reaches
``min_distinct`` and ``factor`` times the median count of the other entries of its list that
matched in the window (1 when none did). A held entry's hits are recorded and queued for review
instead of blocking (``scanner.decision``); the hold is stored with the match, so every server
learns of it through the list's version, and an operator releases it (``hashwatch lists
release``), which the servers follow the same way.

Counts live in the process: they are a rate, and losing them on a restart only delays a hold.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from index.matcher import ListConfig, MatchHit


@dataclass(frozen=True)
class FloodRules:
    window_seconds: float = 3600.0
    factor: float = 20.0
    # Never hold an entry that matched fewer distinct contents than this in the window.
    min_distinct: int = 25


@dataclass
class _Entry:
    # (time, content key) of each distinct content in the window, oldest first.
    seen: deque[tuple[float, str]] = field(default_factory=deque)
    keys: set[str] = field(default_factory=set)


class FloodGuard:
    def __init__(self, rules: FloodRules | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules or FloodRules()
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, int], _Entry] = {}
        # Held here and not (yet) known to be stored: the list version they were held at.
        self._held: dict[tuple[int, int], int] = {}
        # Holds seen in the lists' configs (stored): dropping out of them means released.
        self._stored: set[tuple[int, int]] = set()

    def observe(self, hits: Iterable[MatchHit], content_key: str, configs: Mapping[int, ListConfig]) -> None:
        """Count ``content_key`` for every entry hit within threshold; hold the ones that flood."""
        now = self._clock()
        with self._lock:
            self._follow(configs)
            touched = {(h.list_id, h.entry_id) for h in hits if not h.in_review_band}
            for key in touched:
                entry = self._entries.setdefault(key, _Entry())
                if content_key not in entry.keys:
                    entry.seen.append((now, content_key))
                    entry.keys.add(content_key)
            self._expire(now)
            for key in touched:
                if key in self._held or key in self._stored:
                    continue
                if self._flooding(key):
                    config = configs.get(key[0])
                    self._held[key] = config.version if config else 0

    def held(self, hit: MatchHit) -> bool:
        with self._lock:
            return (hit.list_id, hit.entry_id) in self._held

    def counts(self) -> dict[tuple[int, int], int]:
        """Distinct contents per (list, entry) in the window (for tests and diagnostics)."""
        with self._lock:
            return {key: len(entry.keys) for key, entry in self._entries.items()}

    def _flooding(self, key: tuple[int, int]) -> bool:
        count = len(self._entries[key].keys)
        if count < self.rules.min_distinct:
            return False
        peers = [len(e.keys) for k, e in self._entries.items() if k[0] == key[0] and k != key and e.keys]
        baseline = statistics.median(peers) if peers else 1
        return count >= self.rules.factor * baseline

    def _follow(self, configs: Mapping[int, ListConfig]) -> None:
        stored = {(c.list_id, entry) for c in configs.values() for entry in c.held}
        for key in self._stored - stored:
            # Released by an operator: start counting afresh.
            self._entries.pop(key, None)
            self._held.pop(key, None)
        for key, version in list(self._held.items()):
            config = configs.get(key[0])
            if key in stored or (config is not None and config.version > version):
                # Stored now (the config says so from here on), or the list moved on without
                # storing it (recording failed): counting goes on and holds it again if need be.
                del self._held[key]
        self._stored = stored

    def _expire(self, now: float) -> None:
        horizon = now - self.rules.window_seconds
        for key in list(self._entries):
            entry = self._entries[key]
            while entry.seen and entry.seen[0][0] < horizon:
                _, old = entry.seen.popleft()
                entry.keys.discard(old)
            if not entry.seen:
                del self._entries[key]
