"""Data side of the lifecycle: sources, dataset spec, snapshots, validation, synthetic batches."""
