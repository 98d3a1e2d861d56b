"""Multiple choice for chat models: options shown as letters, the answer read from the letter.

Chat APIs return no prompt log-probabilities, so a choice cannot be scored as a
continuation. Instead the options are listed as `A. ...`, `B. ...` in an order shuffled
per item with a fixed seed (a model's bias towards "A" must not line up with the gold
answer, which TruthfulQA always lists first), and the answer is read:

* from the first generated token's `top_logprobs` where the API gives them: each letter's
  probability is the mass of the tokens that spell it, so mc1 is "the most likely letter
  is a true one" and mc2 the probability mass on the true letters
  (`letters-top_logprobs`);
* else from the first option letter in the generated text, a 0/1 distribution
  (`letters-generated`);
* when neither holds a valid letter, the item scores 0 and is counted
  (`letters-unparsed`).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import Self

from sbt_bench.core import protocols as scoring_protocols
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import GenerationParams, ItemResult, Request, Response, Sample
from sbt_bench.metrics import CHOICE_SCORERS
from sbt_bench.tasks.base import TaskOptions
from sbt_bench.tasks.multiple_choice import MultipleChoiceTask
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.spec import TaskSpec

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TOP_LOGPROBS = 20  # the most the OpenAI API returns
# A letter absent from top_logprobs is less likely than any listed one; a finite floor
# keeps the log-sum-exp scorers finite (exp(-1e4) is 0 in float64).
ABSENT = -1e4
# The trailing answer cue of log-likelihood prompts ("A:", "Answer:") would sit above the
# options; the letter instruction replaces it.
ANSWER_CUE = re.compile(r"\n(?:A|Answer):\s*$")
LETTER_TOKEN = re.compile(r"^\W*([A-Z])\W*$")


@dataclass(frozen=True)
class LetterChoiceTask(MultipleChoiceTask):
    """A multiple-choice task asked as one generation whose answer is an option letter."""

    spec: TaskSpec
    seed: int
    read_top_logprobs: bool = True
    """False asks for the generated letter only (`letters-generated`), so a model pair whose
    APIs differ in logprob support is compared under one protocol."""

    @classmethod
    def from_spec(cls, spec: TaskSpec, options: TaskOptions) -> Self:
        """Letters shuffled with the run's seed; top_logprobs read unless letters-generated."""
        return cls(spec, options.seed, read_top_logprobs=options.mc_protocol == "letters")

    def build_samples(self, index: int, record: Record, data_dir: Path | None) -> list[Sample]:
        """Choices and gold exactly as the log-likelihood protocol reads them."""
        samples = super().build_samples(index, record, data_dir)
        for sample in samples:
            if len(sample.choices) > len(LETTERS):
                raise SbtError(
                    f"{self.spec.task}: item {index} has {len(sample.choices)} choices, more "
                    f"than {len(LETTERS)} letters; use mc_protocol: loglikelihood"
                )
        return samples

    def order(self, sample: Sample) -> list[int]:
        """Choice indices in the order shown: a permutation fixed by (seed, task, item)."""
        order = list(range(len(sample.choices)))
        rng = random.Random(f"{self.seed}:{self.spec.task}:{sample.id}")  # noqa: S311 - not crypto
        rng.shuffle(order)
        return order

    def prompt(self, sample: Sample) -> str:
        """The item's context, then the options as letters and the instruction."""
        order = self.order(sample)
        letters = LETTERS[: len(order)]
        options = "\n".join(f"{letters[i]}. {sample.choices[c]}" for i, c in enumerate(order))
        context = ANSWER_CUE.sub("", sample.context)
        return (
            f"{context}\n\nOptions:\n{options}\n\n"
            f"Answer with the letter of the correct option only ({', '.join(letters)})."
        )

    def requests(self, sample: Sample) -> list[Request]:
        """One short generation asking for the first token's top log-probabilities."""
        tops = TOP_LOGPROBS if self.read_top_logprobs else 0
        params = GenerationParams(max_new_tokens=5, top_logprobs=tops)
        return [Request("generate", self.prompt(sample), generation=params, images=sample.images)]

    def score(self, sample: Sample, responses: Sequence[Response]) -> ItemResult:
        """Letter log-probabilities per choice, then the task's own choice scorers."""
        order = self.order(sample)
        letters = LETTERS[: len(order)]
        response = responses[0]
        by_letter, protocol = read_letters(response, letters)
        # Scores are computed over the original choice indices, where `gold` points.
        per_choice = [ABSENT] * len(order)
        for shown, choice in enumerate(order):
            per_choice[choice] = by_letter.get(letters[shown], ABSENT)
        if protocol == scoring_protocols.LETTERS_UNPARSED:
            scores = dict.fromkeys(self.spec.choice.metrics, 0.0)
            prediction = ""
        else:
            scores = {
                name: CHOICE_SCORERS.get(scorer)(per_choice, sample.gold)
                for name, scorer in self.spec.choice.metrics.items()
            }
            best = max(range(len(per_choice)), key=lambda i: (per_choice[i], -i))
            prediction = sample.choices[best]
        return ItemResult(
            sample=sample,
            prediction=prediction,
            scores=scores,
            loglikelihoods=tuple(per_choice),
            generation=response.text,
            protocol=protocol,
            details={"letter_order": order, "letter_logprobs": by_letter},
        )


def read_letters(response: Response, letters: str) -> tuple[dict[str, float], str]:
    """Log-probability of each option letter, and the protocol that produced them.

    Example:
        >>> read_letters(Response(text="B", top_logprobs={"B": -0.1, " A": -2.4}), "AB")
        ({'B': -0.1, 'A': -2.4}, 'letters-top_logprobs')
    """
    tops = response.top_logprobs or {}
    # The alternatives only mean "the answer's letter" when the model's first token is a
    # letter; after "(" or "The", they are leftovers of another distribution.
    best = max(tops, key=lambda token: tops[token], default="")
    best_letter = LETTER_TOKEN.match(best)
    if best_letter and best_letter.group(1) in letters:
        return _letters_from_top_logprobs(tops, letters), scoring_protocols.LETTERS_TOP_LOGPROBS
    chosen = first_letter(response.text or "", letters)
    if chosen is None:
        return {}, scoring_protocols.LETTERS_UNPARSED
    return {chosen: 0.0}, scoring_protocols.LETTERS_GENERATED


def _letters_from_top_logprobs(tops: Mapping[str, float], letters: str) -> dict[str, float]:
    """Sum the probabilities of tokens spelling the same letter ("A", " A", "A.")."""
    found: dict[str, list[float]] = {}
    for token, logprob in tops.items():
        match = LETTER_TOKEN.match(token)
        if match and match.group(1) in letters:
            found.setdefault(match.group(1), []).append(float(logprob))
    return {letter: math.log(sum(math.exp(v) for v in lps)) for letter, lps in found.items()}


def first_letter(text: str, letters: str) -> str | None:
    """The first stand-alone option letter in a generated answer ("B", "(B)", "B. yes").

    Example:
        >>> first_letter("The answer is (C).", "ABCD")
        'C'
    """
    for match in re.finditer(r"\b([A-Z])\b", text):
        if match.group(1) in letters:
            return match.group(1)
    return None
