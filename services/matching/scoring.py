"""What each finding is worth, and how findings add up to a score in [0, 1].

Findings add log-odds to a prior, as in Fellegi-Sunter record linkage, so that evidence against
(a different birthday, another given name) can outweigh evidence for. The weights are set by
hand, from the cases in ``tests/unit/test_matching.py`` and the fragmentation benchmark, not
estimated: a tenant's data is too small and too unlabelled to fit them reliably.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: Log-odds of a candidate pair before its evidence: a pair the blocking found is rarely one person.
PRIOR = -3.0
#: Suggestions at or above this are safe to accept without review; between it and
#: ``REVIEW_SCORE`` they are shown for a person to decide.
ACCEPT_SCORE = 0.85
REVIEW_SCORE = 0.5
WEIGHTS = {
    "name.full": 3.5,  # the same family and given name, in kanji, reading or romaji
    "name.given_similar": 2.0,  # the same family name, a given name a typo apart
    "name.reading": 0.5,  # the same reading in other kanji: an IME slip, or a namesake
    "name.family": 1.0,  # the same family name, the given names not comparable
    "name.given_conflict": -3.0,  # the same family name, another given name (a relative)
    "name.conflict": -4.0,
    "email.same": 6.0,  # an address both list (the identity stage would link it)
    "email.typo": 3.0,  # the local part one edit apart (two: see ``email_typo_weight``)
    "email.domain_typo": 5.0,  # the same local part, a domain a typo apart (gmial.com)
    "email.local_part": 1.0,  # the same local part at another provider
    "email.other_number": -1.0,  # only the digits differ (taro1980, taro1981): another person
    "phone.same": 6.0,
    "phone.variant": 4.0,  # the same national number under another country code
    "postal_code.same": 1.5,
    "postal_code.differs": -2.0,  # people move, but a namesake elsewhere is likelier
    "address.same": 2.5,  # the same house numbers (丁目-番地-号) in the same postal code
    "address.differs": -2.5,  # another house in the same postal code: a neighbour
    "address.other_room": -1.5,  # the same building, another flat
    "birthday.same": 3.0,
    "birthday.swapped": 0.0,  # day and month swapped: a typing slip, neither for nor against
    "birthday.differs": -4.0,
    "device.same": 2.5,  # a household may share one
    "loyalty_id.same": 6.0,
    "loyalty_id.variant": 4.0,  # the same card number with and without its prefix or zeros
}


@dataclass(frozen=True)
class Evidence:
    """One finding about a pair: ``code`` (a key of ``WEIGHTS``), where or how, and its worth."""

    code: str
    detail: str
    similarity: float
    weight: float

    @property
    def field(self) -> str:
        return self.code.partition(".")[0]


def evidence(code: str, detail: str = "", similarity: float = 1.0) -> Evidence:
    return Evidence(code, detail, similarity, WEIGHTS[code])


def score(found: Iterable[Evidence]) -> float:
    odds = PRIOR + sum(e.weight for e in found)
    return 1.0 / (1.0 + math.exp(-odds))


@dataclass(frozen=True)
class Suggestion:
    """Customers ``a`` and ``b`` (``a < b``) are probably one person: ``score``, and why.

    ``rules`` are the blocking rules that proposed the pair; ``evidence`` every finding, for
    and against, that made the score.
    """

    a: str
    b: str
    score: float
    rules: tuple[str, ...]
    evidence: tuple[Evidence, ...]
