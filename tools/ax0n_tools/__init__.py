"""Operator and developer tools: the local devnet, the `ax0n` CLI and `axon-node`."""
