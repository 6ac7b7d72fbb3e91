"""Model side of the lifecycle: training and evaluation."""
