// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @notice The generated verifier of ProofCore's settlement circuit `BatchSettlement(4, 16)` (circuits/batch.circom,
///         `contracts/src/verifiers/Batch16Verifier.sol`, written per machine by `make artifacts`): the canonical
///         snarkjs-style Groth16 ABI groth16py emits, G2 coordinates of `b` in (c1, c0) order, with the
///         8 + 4·16 = 72 public inputs `[batchId, root, count, operatorBps, validatorBps, feeTotal,
///         validatorTotal, treasuryTotal, operators[16], operatorAmounts[16], clients[16], clientAmounts[16]]`.
interface IBatchVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[72] calldata input
    ) external view returns (bool);
}
