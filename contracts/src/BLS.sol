// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title BLS
/// @notice BLS12-381 signature checks in Ethereum's consensus ciphersuite (PoP scheme: public keys in G1,
///         signatures in G2) on the EIP-2537 precompiles. Points use the precompiles' uncompressed encoding:
///         G1 = x ‖ y (64-byte big-endian each, 16 leading zero bytes), G2 = x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1.
///         Hash-to-G2 is RFC 9380 hash_to_curve (expand_message_xmd with SHA-256, SSWU via MAP_FP2_TO_G2,
///         which also clears the cofactor).
library BLS {
    address internal constant G1ADD = address(0x0b);
    address internal constant G2ADD = address(0x0d);
    address internal constant PAIRING = address(0x0f);
    address internal constant MAP_FP2_TO_G2 = address(0x11);
    address internal constant MODEXP = address(0x05);

    bytes internal constant SIG_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    bytes internal constant POP_DST = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    // The field modulus p (381 bits) as 16 + 32 bytes, and (p - 1) / 2 split the same way.
    bytes internal constant P =
        hex"1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab";
    uint256 internal constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 internal constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;
    uint256 internal constant HALF_P_HI = 0x0d0088f51cbff34d258dd3db21a5d66b;
    uint256 internal constant HALF_P_LO = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;

    // -G1 generator, encoded for the pairing precompile.
    bytes internal constant NEG_G1 =
        hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        hex"00000000000000000000000000000000114d1d6855d545a8aa7d76c8cf2e21f267816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca";

    error PrecompileFailed(address precompile);
    error BadPointLength();

    /// @notice The 48-byte compressed (ZCash) serialization of an uncompressed G1 point.
    function compressG1(bytes memory pk) internal pure returns (bytes memory out) {
        if (pk.length != 128) revert BadPointLength();
        out = new bytes(48);
        uint256 yHi;
        uint256 yLo;
        assembly {
            // x: bytes 16..64 of pk (the second word also writes 16 zero bytes past `out`'s length, in its padding)
            mstore(add(out, 32), mload(add(pk, 48)))
            mstore(add(out, 64), mload(add(pk, 80)))
            yHi := shr(128, mload(add(pk, 112))) // y bytes 80..96
            yLo := mload(add(pk, 128)) // y bytes 96..128
        }
        bool largest = yHi > HALF_P_HI || (yHi == HALF_P_HI && yLo > HALF_P_LO);
        out[0] = bytes1(uint8(out[0]) | 0x80 | (largest ? 0x20 : 0));
    }

    /// @notice RFC 9380 hash_to_curve onto G2 for `message` under domain tag `dst`.
    function hashToG2(bytes memory message, bytes memory dst) internal view returns (bytes memory) {
        bytes memory uniform = expandMessageXmd(message, dst, 256);
        bytes memory u0 = bytes.concat(_modP(uniform, 0), _modP(uniform, 64));
        bytes memory u1 = bytes.concat(_modP(uniform, 128), _modP(uniform, 192));
        return _call(G2ADD, bytes.concat(_call(MAP_FP2_TO_G2, u0, 256), _call(MAP_FP2_TO_G2, u1, 256)), 256);
    }

    /// @notice expand_message_xmd (RFC 9380 §5.3.1) with SHA-256; `lenInBytes` ≤ 255 × 32.
    function expandMessageXmd(bytes memory message, bytes memory dst, uint256 lenInBytes)
        internal
        pure
        returns (bytes memory out)
    {
        uint256 ell = (lenInBytes + 31) / 32;
        bytes memory dstPrime = bytes.concat(dst, bytes1(uint8(dst.length)));
        bytes32 b0 = sha256(bytes.concat(new bytes(64), message, bytes2(uint16(lenInBytes)), bytes1(0), dstPrime));
        bytes32 bi = sha256(bytes.concat(b0, bytes1(0x01), dstPrime));
        out = bytes.concat(bi);
        for (uint256 i = 2; i <= ell; ++i) {
            bi = sha256(bytes.concat(b0 ^ bi, bytes1(uint8(i)), dstPrime));
            out = bytes.concat(out, bi);
        }
        assembly {
            mstore(out, lenInBytes)
        }
    }

    /// @notice Sum of G1 points (e.g. the signers' registered public keys).
    function addG1(bytes memory a, bytes memory b) internal view returns (bytes memory) {
        return _call(G1ADD, bytes.concat(a, b), 128);
    }

    /// @notice -pk for an uncompressed G1 point (y ↦ p − y; the point at infinity is its own negation).
    function negateG1(bytes memory pk) internal pure returns (bytes memory out) {
        if (pk.length != 128) revert BadPointLength();
        out = new bytes(128);
        assembly ("memory-safe") {
            let yHi := mload(add(pk, 96)) // y bytes 0..32 of its 64 (16 zero bytes, then the top 16)
            let yLo := mload(add(pk, 128))
            mstore(add(out, 32), mload(add(pk, 32)))
            mstore(add(out, 64), mload(add(pk, 64)))
            if or(yHi, yLo) {
                let borrow := gt(yLo, P_LO)
                mstore(add(out, 96), sub(sub(P_HI, yHi), borrow))
                mstore(add(out, 128), sub(P_LO, yLo))
            }
        }
    }

    /// @notice True iff `signature` is a valid signature of `message` under `pk` (domain tag `dst`).
    /// @dev The pairing precompile checks that both points are on their curves and in the prime subgroup.
    function verify(bytes memory pk, bytes memory message, bytes memory signature, bytes memory dst)
        internal
        view
        returns (bool)
    {
        if (pk.length != 128 || signature.length != 256) revert BadPointLength();
        bytes memory input = bytes.concat(pk, hashToG2(message, dst), NEG_G1, signature);
        (bool ok, bytes memory out) = PAIRING.staticcall(input);
        return ok && out.length == 32 && uint256(bytes32(out)) == 1;
    }

    /// @notice Proof of possession: `proof` signs the compressed `pk` under the PoP domain tag.
    function verifyPossession(bytes memory pk, bytes memory proof) internal view returns (bool) {
        return verify(pk, compressG1(pk), proof, POP_DST);
    }

    /// @dev 64 uniform bytes at `offset` reduced mod p, as a 64-byte padded field element (MODEXP with e = 1).
    function _modP(bytes memory uniform, uint256 offset) private view returns (bytes memory) {
        bytes memory chunk = new bytes(64);
        assembly {
            let src := add(add(uniform, 32), offset)
            mstore(add(chunk, 32), mload(src))
            mstore(add(chunk, 64), mload(add(src, 32)))
        }
        bytes memory input = bytes.concat(bytes32(uint256(64)), bytes32(uint256(1)), bytes32(uint256(48)), chunk, bytes1(0x01), P);
        return bytes.concat(bytes16(0), _call(MODEXP, input, 48));
    }

    function _call(address precompile, bytes memory input, uint256 outLength) private view returns (bytes memory out) {
        bool ok;
        (ok, out) = precompile.staticcall(input);
        if (!ok || out.length != outLength) revert PrecompileFailed(precompile);
    }
}
