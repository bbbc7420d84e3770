"""ax0n-executor: the executor, running committed models."""
