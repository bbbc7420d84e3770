"""ProofCore helpers: Poseidon hashing, the zk-tier reference model, proof envelopes, batch leaves, artifacts."""
