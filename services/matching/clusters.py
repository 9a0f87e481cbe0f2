"""Accepting suggestions: which customers to merge, never joining two known to be different.

Accepting pairs one by one can chain: a record with only a name and a postal code scores
alike against two namesakes in that postal code who live in different houses, and accepting
both would merge the namesakes. A suggestion is *contested*, and left for review, when one of
its customers is also suggested with someone the other was found to differ from
(``Matching.apart``), or when accepting it would put two such customers into one group.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from services.matching.matcher import Matching
from services.matching.scoring import ACCEPT_SCORE, Suggestion


@dataclass(frozen=True)
class Acceptance:
    groups: list[frozenset[str]]  # customers to merge, two or more each
    accepted: list[Suggestion]
    contested: list[Suggestion]  # above the threshold, but joining customers kept apart


def accept(matching: Matching, threshold: float = ACCEPT_SCORE) -> Acceptance:
    """The suggestions at or above ``threshold``, best first, as groups to merge."""
    apart: dict[str, set[str]] = defaultdict(set)
    for a, b in matching.apart:
        apart[a].add(b)
        apart[b].add(a)
    above = [s for s in matching.suggestions if s.score >= threshold]
    partners: dict[str, set[str]] = defaultdict(set)
    for s in above:
        partners[s.a].add(s.b)
        partners[s.b].add(s.a)
    groups = _Groups(apart)
    accepted, contested = [], []
    for s in above:
        torn = apart[s.b] & partners[s.a] or apart[s.a] & partners[s.b]
        if not torn and groups.join(s.a, s.b):
            accepted.append(s)
        else:
            contested.append(s)
    return Acceptance(groups.merged(), accepted, contested)


class _Groups:
    """Union-find whose groups remember whom their members must stay apart from."""

    def __init__(self, apart: dict[str, set[str]]) -> None:
        self.parent: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}
        self.avoid: dict[str, set[str]] = {}
        self.apart = apart

    def root(self, x: str) -> str:
        if x not in self.parent:
            self.parent[x], self.members[x] = x, {x}
            self.avoid[x] = set(self.apart.get(x, ()))
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: str, b: str) -> bool:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return True
        if self.avoid[ra] & self.members[rb]:
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        self.avoid[ra] |= self.avoid.pop(rb)
        return True

    def merged(self) -> list[frozenset[str]]:
        roots = {self.root(x) for x in self.parent}
        found = [frozenset(self.members[r]) for r in roots if len(self.members[r]) > 1]
        return sorted(found, key=min)
