"""COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr, SPICE) with pycocoevalcap's scorers.

Same numbers as pycocoevalcap's `COCOEvalCap`, computed more cheaply and reported as the
SBT paper does (every metric x100):

- PTB tokenisation (a Java process) runs once for references and predictions together,
  not once per metric as lmms-eval's aggregation does (seven times).
- SPICE needs Stanford CoreNLP 3.6.0, which pycocoevalcap downloads on first use. Where the
  jars are absent SPICE is skipped with the reason in `notes`, never reported as 0.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError

BLEU = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4")
CAPTION_METRICS = (*BLEU, "METEOR", "ROUGE_L", "CIDEr", "SPICE")
JAVA_HINT = (
    "captioning metrics need Java for the PTB tokenizer and METEOR: install a JRE "
    "(e.g. apt-get install default-jre-headless) so that `java` is on PATH"
)
_INSTALL_HINT = 'pip install "sbt-bench[vision]" (or pip install pycocoevalcap)'
_CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")

# One corpus to score: (image id -> prediction, image id -> references).
CaptionSet = tuple[Mapping[str, str], Mapping[str, Sequence[str]]]


@dataclass(frozen=True)
class CaptionScores:
    """Corpus-level caption metrics x100, and why any of `CAPTION_METRICS` is absent."""

    metrics: Mapping[str, float]
    notes: Mapping[str, str] = field(default_factory=dict)


def score_captions(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    spice: bool = True,
) -> CaptionScores:
    """Score one caption per image against that image's references, over the whole corpus.

    CIDEr's IDF comes from the references given, so scores of a subset (`--limit`) are not
    comparable to scores of the full split.

    Args:
        predictions: image id -> the model's caption.
        references: image id -> the reference captions (same ids as `predictions`).
        spice: compute SPICE when its CoreNLP jars are present (slow: minutes, 8 GB heap).

    Returns:
        BLEU_1..4, METEOR, ROUGE_L, CIDEr (and SPICE) x100, with a note for each skipped one.

    Example:
        >>> scores = score_captions({"1": "A cat."}, {"1": ["a cat", "a small cat"]})
        >>> round(scores.metrics["BLEU_1"])
        100
    """
    return score_caption_sets({"": (predictions, references)}, spice=spice)[""]


def score_caption_sets(
    sets: Mapping[str, CaptionSet], *, spice: bool = True
) -> dict[str, CaptionScores]:
    """`score_captions` for several corpora (clean COCO and each corrupted copy) at once.

    Each set is scored on its own (its own CIDEr IDF), but every distinct caption of every
    set is tokenised in one Java call and one METEOR process serves them all: starting
    METEOR (loading its paraphrase table) costs seconds, and MSCOCO-C has 58 sets.
    """
    for name, (predictions, references) in sets.items():
        _check_inputs(predictions, references, name)
    if shutil.which("java") is None:
        raise SbtError(JAVA_HINT)
    with _pycocoevalcap():
        from pycocoevalcap.meteor.meteor import Meteor  # noqa: PLC0415 - vision extra

    texts = [
        t for p, r in sets.values() for t in (*p.values(), *(c for cs in r.values() for c in cs))
    ]
    tokens = tokenize_texts(texts)
    skip_spice = spice_unavailable() if spice else "disabled (spice=False)"
    meteor = Meteor()
    try:
        return {
            name: _score_set(*_look_up(tokens, *captions), meteor, skip_spice)
            for name, captions in sets.items()
        }
    finally:
        # Its __del__ would stop the JVM too, but only whenever the object is collected.
        meteor.meteor_p.stdin.close()
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()


def tokenize(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """PTB-tokenise both sides as pycocoevalcap's scorers take them (id -> captions)."""
    tokens = tokenize_texts([*predictions.values(), *(c for cs in references.values() for c in cs)])
    return _look_up(tokens, predictions, references)


def _look_up(
    tokens: Mapping[str, str],
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(references, predictions) in the scorers' shape, id -> tokenised captions."""
    gts = {k: [tokens[_one_line(c)] for c in refs] for k, refs in references.items()}
    res = {k: [tokens[_one_line(predictions[k])]] for k in references}
    return gts, res


def tokenize_texts(texts: Iterable[str]) -> dict[str, str]:
    """Each distinct text (flattened to one line) -> its PTB tokens, in one Java call.

    PTB tokenisation here is lower-casing, splitting and dropping punctuation tokens,
    exactly what COCOEvalCap applies to both sides.
    """
    with _pycocoevalcap():
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # noqa: PLC0415

    # The tokenizer pairs output lines with captions by position: a line break inside a
    # caption (\r, U+2028, ...) would shift every later caption onto the wrong image.
    distinct = list(dict.fromkeys(_one_line(t) for t in texts))
    tokenized = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(distinct)})
    if len(tokenized) != len(distinct):
        raise SbtError("PTB tokenizer returned fewer lines than captions; is `java` working?")
    return {text: tokenized[i][0] for i, text in enumerate(distinct)}


def _score_set(
    gts: dict[str, list[str]], res: dict[str, list[str]], meteor: Any, skip_spice: str | None
) -> CaptionScores:
    with _pycocoevalcap():
        from pycocoevalcap.bleu.bleu import Bleu  # noqa: PLC0415 - vision extra
        from pycocoevalcap.cider.cider import Cider  # noqa: PLC0415
        from pycocoevalcap.rouge.rouge import Rouge  # noqa: PLC0415

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    metrics = dict(zip(BLEU, bleu, strict=True))
    try:
        metrics["METEOR"], _ = meteor.compute_score(gts, res)
    except (ValueError, OSError) as err:  # the JVM died: no output to parse, or a broken pipe
        raise SbtError(
            f"METEOR (java -jar meteor-1.5.jar, 2 GB heap) failed ({err}); check that java "
            "runs and has the memory"
        ) from None
    metrics["ROUGE_L"], _ = Rouge().compute_score(gts, res)
    metrics["CIDEr"], _ = Cider().compute_score(gts, res)
    notes: dict[str, str] = {}
    reason = skip_spice
    if reason is None:
        value, reason = _spice(gts, res)
        if reason is None:
            metrics["SPICE"] = value
    if reason is not None:
        notes["SPICE"] = f"skipped: {reason}"
    return CaptionScores({k: 100.0 * float(v) for k, v in metrics.items()}, notes)


def spice_unavailable() -> str | None:
    """Why SPICE cannot run here (its CoreNLP jars are missing), or None when it can."""
    with _pycocoevalcap():
        import pycocoevalcap.spice as spice_package  # noqa: PLC0415

    lib = Path(next(iter(spice_package.__path__))) / "lib"
    missing = [jar for jar in _CORENLP_JARS if not (lib / jar).is_file()]
    if not missing:
        return None
    return (
        f"SPICE needs Stanford CoreNLP 3.6.0 ({', '.join(missing)} missing from {lib}), which "
        "pycocoevalcap downloads from nlp.stanford.edu on first use; run `python -m "
        "pycocoevalcap.spice.get_stanford_models` where the internet is reachable, or copy "
        "the jars there"
    )


def _check_inputs(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], name: str
) -> None:
    where = f"{name}: " if name else ""
    if not references:
        raise SbtError(f"{where}no captions to score: the reference set is empty")
    unmatched = set(predictions) ^ set(references)
    if unmatched:
        first = min(unmatched)
        side = "predictions" if first in predictions else "references"
        raise SbtError(
            f"{where}caption {first!r} is only in the {side} ({len(unmatched)} unmatched ids); "
            "give exactly one prediction per image with references"
        )
    empty = next((key for key, refs in references.items() if not refs), None)
    if empty is not None:
        raise SbtError(f"{where}image {empty!r} has no reference captions; fix or drop that item")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _spice(gts: dict[str, list[str]], res: dict[str, list[str]]) -> tuple[float, str | None]:
    """SPICE, or NaN and the reason when its Java run fails (it is optional, unlike the rest)."""
    from pycocoevalcap.spice.spice import Spice  # noqa: PLC0415 - vision extra

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            score, _ = Spice().compute_score(gts, res)
    except (subprocess.CalledProcessError, OSError, ValueError) as err:
        return float("nan"), f"SPICE's Java run failed ({err})"
    return float(score), None


@contextlib.contextmanager
def _pycocoevalcap() -> Iterator[Any]:
    try:
        yield
    except ImportError as err:
        raise SbtError(f"captioning metrics need pycocoevalcap ({err}); {_INSTALL_HINT}") from None
