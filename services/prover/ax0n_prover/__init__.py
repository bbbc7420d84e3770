"""ProofCore prover: attaches zk-tier Groth16 proofs to executed receipts and proves settlement batches."""
