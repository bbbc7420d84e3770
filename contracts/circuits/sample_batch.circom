pragma circom 2.1.0;

// SAMPLE batch circuit, standing in until ProofCore's batch-settlement circuit lands. It has the
// public-input layout Settlement uses (batchId, root, count, creditsDigest) and proves only that the
// prover knows a private `witness` with witness * witness == root + count (a real, sound relation),
// so the on-chain Groth16 verification path is real; it proves nothing about the receipts themselves.
template SampleBatch() {
    signal input batchId;
    signal input root;
    signal input count;
    signal input creditsDigest;
    signal input witness;

    witness * witness === root + count;
    // Bind every public input into a constraint.
    signal bound[2];
    bound[0] <== batchId * batchId;
    bound[1] <== creditsDigest * creditsDigest;
}

component main {public [batchId, root, count, creditsDigest]} = SampleBatch();
