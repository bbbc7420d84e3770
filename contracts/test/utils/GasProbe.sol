// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {BLS} from "../../src/BLS.sol";
import {IBatchVerifier} from "../../src/interfaces/IBatchVerifier.sol";

/// @notice Measures the gas of each verification part in isolation (used by bench/settlement.py).
contract GasProbe {
    /// @notice Gas of RFC 9380 hash-to-G2 of `message` (signature DST).
    function hashToG2Gas(bytes calldata message) external view returns (uint256 used) {
        uint256 start = gasleft();
        BLS.hashToG2(message, BLS.SIG_DST);
        used = start - gasleft();
    }

    /// @notice Gas of one full signature check (hash-to-G2 + 2-pair pairing) and its result.
    function verifyGas(bytes calldata pk, bytes calldata message, bytes calldata sig)
        external
        view
        returns (uint256 used, bool ok)
    {
        uint256 start = gasleft();
        ok = BLS.verify(pk, message, sig, BLS.SIG_DST);
        used = start - gasleft();
    }

    /// @notice Gas of adding `n` copies of `pk` (the per-signer cost of aggregating keys with G1ADD).
    function aggregateGas(bytes calldata pk, uint256 n) external view returns (uint256 used) {
        bytes memory acc = pk;
        uint256 start = gasleft();
        for (uint256 i; i < n; ++i) acc = BLS.addG1(acc, pk);
        used = start - gasleft();
    }

    /// @notice Gas of one Groth16 verification on `verifier` and its result.
    function groth16Gas(IBatchVerifier verifier, bytes calldata proof, uint256[72] calldata input)
        external
        view
        returns (uint256 used, bool ok)
    {
        uint256[8] memory w = abi.decode(proof, (uint256[8]));
        uint256 start = gasleft();
        ok = verifier.verifyProof([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], input);
        used = start - gasleft();
    }
}
