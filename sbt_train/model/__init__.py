"""Assembling, freezing and converting llava-hf checkpoints."""
