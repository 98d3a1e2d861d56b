"""Images as tasks and backends read them, and the corruptions applied to them."""
