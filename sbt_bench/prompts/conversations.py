"""System prompts of LLaVA's conversation templates (`llava/conversation.py`).

The evaluator's `sbt-paper` prompt format and the trainer's `v0` template must say the same
words, so both read them from here.
"""

from __future__ import annotations

V0_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
"""`conv_vicuna_v0`'s system prompt (roles Human / Assistant)."""
