"""One evaluation: preflight checks, prompts, cached planned fetches, sharding, the judge."""
