// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {NodeRegistry} from "../../src/NodeRegistry.sol";
import {Vm} from "./Test.sol";

/// @notice Receipt signing keys for test operators and their proofs of possession for NodeRegistry.register
///         (ax0n.chain.registration): each operator gets a deterministic secp256k1 key of its own.
library KeyProofs {
    Vm internal constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function secret(address operator) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("ax0n test signing key", operator))) % (SECP256K1_N - 1) + 1;
    }

    /// @notice The test signing key (address) of `operator`.
    function key(address operator) internal pure returns (address) {
        return VM.addr(secret(operator));
    }

    /// @notice `operator`'s own key's proof for `nodes`.
    function proof(NodeRegistry nodes, address operator) internal view returns (bytes memory) {
        return proofWith(nodes, secret(operator), operator);
    }

    /// @notice The proof by secret `sk` that `operator` may register its address on `nodes`, computed here (no
    ///         call to the registry, so a pending prank is not spent on it).
    function proofWith(NodeRegistry nodes, uint256 sk, address operator) internal view returns (bytes memory) {
        bytes32 message = keccak256(abi.encode(bytes32("ax0n/signing-key/v1"), operator, block.chainid, address(nodes)));
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(sk, MessageHashUtils.toEthSignedMessageHash(message));
        return abi.encodePacked(r, s, v);
    }
}
