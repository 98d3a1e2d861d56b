"""Build tiny random models and tokenizers from configs (no downloads), for fast tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

if TYPE_CHECKING:
    from sbt_train.model.llava_hf import ProjectorKind

CORPUS = [
    "Q: What is human life expectancy in the United States?",
    "A: Human life expectancy in the United States is 78 years.",
    "Question: Is this wrong? Answer: no yes reasonable unreasonable",
    "Scenario 1: I went to the park. Scenario 2: I stayed home. Is Scenario 1 preferable?",
    "Sentence: The character exhibits the trait. I have no comment.",
]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (so any text encodes) with <s>, </s> and <pad>."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def tiny_llama_config(tokenizer: PreTrainedTokenizerFast, hidden_size: int = 32) -> LlamaConfig:
    """Two layers of width 32 over the tokenizer's vocabulary, its special tokens set.

    Four heads: the default width gives heads of 8; vLLM's CPU attention needs `hidden_size`
    128 (heads of 32).
    """
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_llama(folder: Path, seed: int = 0, hidden_size: int = 32) -> Path:
    """Save a tiny random LlamaForCausalLM plus tokenizer into `folder` and return it."""
    tokenizer = build_tokenizer()
    config = tiny_llama_config(tokenizer, hidden_size)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# A minimal chat template in the llava-hf style: the image placeholder precedes the text.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>{{ '\\n' }}"
    "{% else %}{{ item['text'] }}{% endif %}{% endfor %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
TINY_CLIP_IMAGE_SIZE = 28  # 2 x 2 patches of 14 px: 4 image tokens per picture


def build_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A 2-layer random CLIP vision tower and its PIL image processor."""
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

    size = TINY_CLIP_IMAGE_SIZE
    config = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=size,
        patch_size=14,
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPVisionModel(config).save_pretrained(folder)
    CLIPImageProcessorPil(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}
    ).save_pretrained(folder)
    return folder


def build_tiny_llava(
    root: Path, projector: ProjectorKind | None = None, lm_hidden_size: int = 32
) -> Path:
    """Assemble tiny CLIP + tiny Llama under `root` (sbt_train's `assemble`); the llava folder.

    Its processor carries `LLAVA_CHAT_TEMPLATE`, the layout sbt-bench's default prompt
    format renders; the trainer sets its own template.
    """
    from transformers import AutoProcessor

    from sbt_train.model.assemble import AssembleConfig, assemble
    from sbt_train.model.llava_hf import ProjectorKind

    projector = projector or ProjectorKind.LINEAR
    clip = build_tiny_clip(root / "clip")
    llama = build_tiny_llama(root / "llama", hidden_size=lm_hidden_size)
    folder = assemble(
        AssembleConfig(clip, str(llama), root / f"llava-{projector.value}", projector)
    )
    processor = AutoProcessor.from_pretrained(folder)
    processor.chat_template = LLAVA_CHAT_TEMPLATE
    processor.save_pretrained(folder)
    return folder
