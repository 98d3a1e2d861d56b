"""The ground every layer stands on: records, errors, registries, files, hub access, protocols."""
