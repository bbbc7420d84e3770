"""The `axon-node` operator CLI: keystore, stake, serve, status."""
