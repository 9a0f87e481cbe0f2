"""Suggested duplicates: pairs of customers that are probably one person, with the evidence.

Deterministic linking (``services.identity``) merges customers only when an event carries
identifiers of both. What it must not merge on its own word, a person may still recognise:
the same name at the same address, an email a typo apart, a phone number under another
country code, a shared device. ``find_duplicates`` proposes those pairs with a score and every
finding for and against; accepting one is a decision for the caller (or a person) to make.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.matching.blocking import MAX_BLOCK, RULES, candidate_pairs
from services.matching.compare import NameCounts, compare, prepare
from services.matching.records import CustomerRecord
from services.matching.scoring import REVIEW_SCORE, Evidence, Suggestion, score

#: A finding this strong against (another house, another birthday, another name) keeps a
#: pair apart when accepting suggestions (see ``clusters``).
APART_WEIGHT = -2.5


@dataclass(frozen=True)
class Matching:
    """The suggestions, best first, and what the blocking did to find them."""

    suggestions: list[Suggestion]
    #: pairs compared and found to be different people (strong evidence against): never join them
    apart: frozenset[tuple[str, str]]
    records: int
    blocks: int
    skipped_blocks: int  # larger than ``max_block``: not compared
    pairs_compared: int


def find_duplicates(
    records: Iterable[CustomerRecord],
    min_score: float = REVIEW_SCORE,
    max_block: int = MAX_BLOCK,
) -> Matching:
    """Pairs of ``records`` scoring at least ``min_score``, best first.

    A pair needs a finding for it besides the name; ``Matching.apart`` lists the pairs found
    to be different people, which ``clusters.accept`` never joins.
    """
    prepared = [prepare(r) for r in records]
    blocks = candidate_pairs(prepared, max_block)
    names = NameCounts(prepared)
    suggestions = []
    apart: set[tuple[str, str]] = set()
    for (i, j), rules in blocks.pairs.items():
        a, b = prepared[i].record.customer_id, prepared[j].record.customer_id
        if a == b:
            continue
        found = compare(prepared[i], prepared[j], names)
        value = score(found)
        ids = (a, b) if a < b else (b, a)
        if value >= min_score and _corroborated(found):
            ordered = tuple(r for r in RULES if r in rules)
            suggestions.append(Suggestion(ids[0], ids[1], value, ordered, tuple(found)))
        elif value < REVIEW_SCORE and any(e.weight <= APART_WEIGHT for e in found):
            apart.add(ids)
    suggestions.sort(key=lambda s: (-s.score, s.a, s.b))
    return Matching(
        suggestions,
        frozenset(apart),
        len(prepared),
        blocks.blocks,
        blocks.skipped,
        len(blocks.pairs),
    )


def _corroborated(found: list[Evidence]) -> bool:
    """Something besides the name speaks for the pair: namesakes are common."""
    return any(e.weight > 0 and e.field != "name" for e in found)
