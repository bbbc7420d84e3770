// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {BLS} from "../src/BLS.sol";

contract BLSTest is Test {
    /// @dev RFC 9380 appendix K.1 (expand_message_xmd, SHA-256), msg = "", len_in_bytes = 0x20.
    function test_expandMessageXmdVector() public pure {
        bytes memory out = BLS.expandMessageXmd("", "QUUX-V01-CS02-with-expander-SHA256-128", 32);
        vm.assertEq(bytes32(out), 0x68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235, "K.1");
    }

    function test_compressG1Generator() public pure {
        bytes memory g = bytes.concat(
            hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb",
            hex"0000000000000000000000000000000008b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1"
        );
        bytes memory c = BLS.compressG1(g);
        // The well-known compressed generator: 0x97f1d3a7...
        vm.assertEq(uint256(uint8(c[0])), 0x97, "flag bits");
        vm.assertEq(uint256(uint8(c[47])), 0xbb, "last byte");
    }
}
