"""What a run writes: the results records, the results folder, usage, group means, logging sinks."""
