// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @notice The batch-proof verifier Settlement calls: the canonical (snarkjs-style) Groth16 verifier ABI that
///         groth16py's `VerifyingKey.to_solidity()` emits, with the 4 public inputs
///         `[batchId, root, count, creditsDigest]`. G2 coordinates of `b` are in (c1, c0) order.
interface IBatchVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[4] calldata input
    ) external view returns (bool);
}
