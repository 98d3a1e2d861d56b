"""Tokenizers for label tests, with BOS prepended like LLaMA's.

A word-level one whose tokens can be listed by hand, and the shared byte-level BPE one.
"""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from sbt_train.templates import TEMPLATES
from tests.tiny_models import build_tokenizer

SPECIALS = ["<s>", "</s>", "<pad>", "<unk>", "<image>"]


def build_word_tokenizer() -> PreTrainedTokenizerFast:
    """One token per whitespace-separated word, so expected masks can be written by hand."""
    words = list(SPECIALS)
    for template in TEMPLATES.values():
        words += [w for w in template.system.split() if w not in words]
    extra = "USER: ASSISTANT: [INST] [/INST] <<SYS>> <</SYS>> ### Human: Assistant: Hi Hello"
    words += [w for w in [*extra.split(), "Q2", "A2", "a", "cat"] if w not in words]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", 0)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<image>"],
    )


def build_bpe_tokenizer() -> PreTrainedTokenizerFast:
    """The shared tiny byte-level BPE tokenizer plus `<image>` and a LLaMA-like BOS."""
    tok = build_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
    )
    return tok
