// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @notice The generated verifier of ProofCore's zk-tier circuit (circuits/mlp.circom,
///         `contracts/src/verifiers/MlpVerifier.sol`, written per machine by `make artifacts`), public inputs
///         `[commitment, inputHash, outputHash]`; G2 coordinates of `b` in (c1, c0) order.
interface IZkVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[3] calldata input
    ) external view returns (bool);
}
