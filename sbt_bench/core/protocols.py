"""Names of the protocols that produce a task's numbers, and when two numbers are comparable.

A multiple-choice score from summed continuation log-likelihoods and one read from a chat
model's answer letter measure different things; results record which protocol produced
each number, and the leaderboard flags columns that mix them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

LOGLIKELIHOOD = "loglikelihood"
"""Summed log-probability of each choice as a continuation (lm-eval's definition)."""
LETTERS_TOP_LOGPROBS = "letters-top_logprobs"
"""Options shown as letters; probabilities of the letters as the first answer token."""
LETTERS_GENERATED = "letters-generated"
"""Options shown as letters; the letter the model wrote (a 0/1 distribution)."""
LETTERS_UNPARSED = "letters-unparsed"
"""Options shown as letters; no letter could be read from the answer (scored 0)."""
LETTERS_MIXED = "letters-mixed"
"""Some items of the task read from top_logprobs, others from the generated letter."""
GENERATION = "generation"
"""A generated answer scored against references (or by a judge)."""


def summarize_protocols(counts: Mapping[str, int]) -> str | None:
    """The protocol of a whole task from its per-item protocol counts (None: none recorded).

    Unparsed items do not change the protocol name: they are counted separately.

    Example:
        >>> summarize_protocols({"letters-top_logprobs": 9, "letters-unparsed": 1})
        'letters-top_logprobs'
    """
    scored = {name for name, n in counts.items() if n and name != LETTERS_UNPARSED}
    if not scored:
        return LETTERS_GENERATED if counts.get(LETTERS_UNPARSED) else None
    if len(scored) == 1:
        return next(iter(scored))
    return LETTERS_MIXED if all(s.startswith("letters") for s in scored) else "mixed"


def comparable(protocols: Iterable[str | None]) -> bool:
    """Whether numbers produced under these protocols can be compared (None: not recorded).

    Results written before protocols were recorded carry none; they are not flagged.

    Example:
        >>> comparable(["loglikelihood", "letters-top_logprobs"])
        False
    """
    return len({p for p in protocols if p is not None}) <= 1
