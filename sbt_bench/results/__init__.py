"""What a run leaves on disk: the results.json schema, the samples files, the results folder."""
