"""ax0n-validator: MeshSync, the validator client and quorum aggregator."""
