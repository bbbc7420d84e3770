// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {BLS} from "../../src/BLS.sol";

/// @notice BLS12-381 keys and signatures made inside forge tests with the EIP-2537 MSM precompiles, byte-compatible
///         with ax0n.spec.bls (blspy): pk = sk·G1, sig = sk·H(m), PoP = sk·H_pop(compress(pk)). Tests sign what they
///         need at run time instead of carrying fixed signatures.
library BlsKeys {
    address internal constant G1MSM = address(0x0c);
    address internal constant G2MSM = address(0x0e);
    address internal constant G2ADD = address(0x0d);
    bytes internal constant G1_GENERATOR =
        hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        hex"0000000000000000000000000000000008b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1";

    function publicKey(uint256 sk) internal view returns (bytes memory) {
        return _call(G1MSM, bytes.concat(G1_GENERATOR, bytes32(sk)), 128);
    }

    function sign(uint256 sk, bytes memory message) internal view returns (bytes memory) {
        return signWith(sk, message, BLS.SIG_DST);
    }

    function signWith(uint256 sk, bytes memory message, bytes memory dst) internal view returns (bytes memory) {
        return _call(G2MSM, bytes.concat(BLS.hashToG2(message, dst), bytes32(sk)), 256);
    }

    function proofOfPossession(uint256 sk) internal view returns (bytes memory) {
        return signWith(sk, BLS.compressG1(publicKey(sk)), BLS.POP_DST);
    }

    /// @notice The aggregate (sum) of the signatures of every key in `sks` on `message`.
    function signAll(uint256[] memory sks, bytes memory message) internal view returns (bytes memory sig) {
        for (uint256 i; i < sks.length; ++i) {
            bytes memory one = sign(sks[i], message);
            sig = i == 0 ? one : _call(G2ADD, bytes.concat(sig, one), 256);
        }
    }

    function _call(address precompile, bytes memory input, uint256 outLength) private view returns (bytes memory out) {
        bool ok;
        (ok, out) = precompile.staticcall(input);
        require(ok && out.length == outLength, "BLS precompile failed");
    }
}
