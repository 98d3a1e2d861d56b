"""OODCV-VQA answer matching, as Unicorn's `oodcv_vqa_metric.py` defines it.

An answer is right when any synonym of the gold answer occurs as a substring of the
punctuation-processed reply. The substring rule is the benchmark's (so "no" also matches
"not" and "snow"); the default parser keeps it but matches whole words only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

SYNONYMS: dict[str, tuple[str, ...]] = {
    "Yes": ("yes", "Yes", "yeah", "Yeah"),
    "No": ("no", "No", "nope", "Nope"),
    # The official list has no digit "0", only words.
    "0": ("none", "no", "zero"),
    "1": ("one", "single", "1"),
    "2": ("two", "2"),
    "3": ("three", "3"),
    "4": ("four", "4"),
    "5": ("five", "5"),
    "6": ("six", "6"),
    "7": ("seven", "7"),
    "8": ("eight", "8"),
    "9": ("nine", "9"),
    "10": ("ten", "10"),
}

_PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@",
          "`", ",", "?", "!")  # fmt: skip
_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
# The script's pattern: a (mistyped) lookbehind that is really a lookahead, kept as is.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
# The script passes re.UNICODE (32) where `sub` expects a count: at most 32 periods go.
_OFFICIAL_PERIOD_COUNT = int(re.UNICODE)
_REFUSALS = ("I'm not able", "I'm sorry", "Sorry", "an AI")
_START_TERMS = ("After", "If", "Once", "Now that")
_MID_TERMS = ("if", "after", "once", "now that")


def process_punctuation(text: str) -> str:
    """The VQA-style punctuation handling of the script."""
    out = text
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, count=_OFFICIAL_PERIOD_COUNT)


def is_yes_no(answer: str) -> bool:
    """Whether a gold answer is a yes/no one (else a count)."""
    return answer in ("Yes", "No")


def oodcv_correct_official(prediction: str, answer: str, counterfactual: bool) -> bool:
    """The script's verdict for one reply."""
    text = _scored_text(prediction, answer, counterfactual=counterfactual)
    return any(s in text for s in SYNONYMS[answer])


def oodcv_correct(prediction: str, answer: str, counterfactual: bool) -> bool:
    """The script's rule on whole words: "no" no longer matches "not", "snow" or "none"."""
    text = _scored_text(prediction, answer, counterfactual=counterfactual)
    words = set(re.findall(r"[A-Za-z]+|\d+", text))
    return any(s in words for s in SYNONYMS[answer])


def _scored_text(prediction: str, answer: str, *, counterfactual: bool) -> str:
    """The part of a reply the script matches.

    Punctuation processed, the first sentence, and for counterfactual questions the clause
    saying what "there would be".
    """
    text = process_punctuation(prediction).split(".", maxsplit=1)[0]
    if counterfactual:
        text = find_counterfactual_clause(text, yes_no=is_yes_no(answer))
    return text


def find_counterfactual_clause(prediction: str, *, yes_no: bool) -> str:  # noqa: C901, PLR0911, PLR0912 - mirrors the script
    """The script's `find_right_prediction`: the clause saying what "there would be"."""
    if any(p in prediction for p in _REFUSALS):
        return "Bad Texts."
    parts = prediction.split(".")
    if len(parts) > 1:
        window = parts[1:3]  # the script looks one or two sentences ahead
        shift = "there would be" not in parts[0] and any("there would be" in p for p in window)
        text = ".".join(parts[1:]) if shift else ".".join(parts)
    else:
        text = parts[0]
    if yes_no:
        if text[:3] == "Yes":
            return "Yes"
        if text[:2] == "No":
            return "No"
        return text.split(".")[0]
    clauses = text.split(",")
    if len(clauses) == 2:  # noqa: PLR2004 - "If ..., there would be ..."
        starts = any(t in clauses[0][:10] for t in _START_TERMS)
        if starts and ("there would be" in clauses[1] or "there would still be" in clauses[1]):
            return clauses[1]
        if "There would still be" in clauses[0]:
            return clauses[0]
    elif len(clauses) == 1:
        result = text
        if "There would be" in text or "There would still be" in text:
            for mid in _MID_TERMS:
                if mid in text:
                    result = text.split(mid)[0]
        else:
            for phrase in ("there would be", "there would still be"):
                if phrase in text:
                    found = re.match(f".+({phrase}.*)", text)
                    return found.group(1) if found else text.split(".")[0]
        return result
    else:
        result = text
        for clause in clauses:
            if "there would be" in clause or "there would still be" in clause:
                result = clause
        return result
    return text.split(".")[0]


def score_oodcv_item(
    judge: Callable[[str, str, bool], bool],
    answer: str,
    references: Sequence[str],
    _: Sequence[str],
    *,
    counterfactual: bool,
) -> dict[str, float]:
    """Per-item correctness against the gold `text_answer` in `references[0]`."""
    return {"correct": float(judge(answer, references[0], counterfactual))}
