// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IZkVerifier} from "./interfaces/IZkVerifier.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @title ZkVerifierRouter
/// @notice The zk-tier verifier Settlement checks challenges with: a proof for model commitment `input[0]` is
///         verified by that public-weight model's own verifier (ModelRegistry.zkVerifierOf), and every other
///         commitment by the shared private-weight MLP verifier. A proof made under another model's key therefore
///         meets the wrong key and fails.
contract ZkVerifierRouter is IZkVerifier {
    ModelRegistry public immutable registry;
    IZkVerifier public immutable privateWeights;

    constructor(ModelRegistry registry_, IZkVerifier privateWeights_) {
        registry = registry_;
        privateWeights = privateWeights_;
    }

    /// @notice The verifier for proofs about model `commitment`.
    function verifierFor(bytes32 commitment) public view returns (IZkVerifier) {
        IZkVerifier own = registry.zkVerifierOf(commitment);
        return address(own) == address(0) ? privateWeights : own;
    }

    /// @inheritdoc IZkVerifier
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[3] calldata input
    ) external view returns (bool) {
        return verifierFor(bytes32(input[0])).verifyProof(a, b, c, input);
    }
}
