"""Prompt layouts shared by backends and the trainer: conversation templates, image formats."""
