"""ax0n-prover: ProofCore, the Groth16 prover."""
