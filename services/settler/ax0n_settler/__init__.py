"""ax0n-settler: the settler, batching receipts onto L1."""
