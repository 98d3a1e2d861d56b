"""Reading results back: paired statistics, differences from a base, leaderboards, the report."""
