"""Training recipes that produce the checkpoints SBT-Bench scores (built in a later issue)."""
