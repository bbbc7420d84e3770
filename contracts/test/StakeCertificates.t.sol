// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Deployed} from "./utils/Deployed.sol";
import {BlsKeys} from "./utils/BlsKeys.sol";
import {BLS} from "../src/BLS.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {Settlement} from "../src/Settlement.sol";
import {Batches16} from "./fixtures/Batches16.sol";

/// @notice Validators with BLS keys made at run time (BlsKeys), and certificates over them.
abstract contract StakeValidators is Deployed {
    /// @dev The BLS12-381 group order r: the aggregate of sk_i·H(m) is (Σ sk_i mod r)·H(m).
    uint256 internal constant R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;
    address internal constant WHALE = address(0xA11CE);
    uint256 internal constant WHALE_SK = 0x5eed;
    address internal constant HONEST = address(0xB0B);
    uint256 internal constant HONEST_SK = 0xb0b;

    /// @dev Register `who` as a node with `stake` and the BLS key of `sk` (its proof of possession included).
    function registerValidator(address who, uint256 sk, uint256 stake) internal {
        registerNode(who, stake);
        (bytes memory pk, bytes memory pop) = (BlsKeys.publicKey(sk), BlsKeys.proofOfPossession(sk));
        vm.prank(who); // after the keys: a prank applies to the next call, precompile calls included
        nodes.registerValidatorKey(pk, pop);
    }

    /// @dev The fixture operators and clients, without the fixture validators.
    function prepareBatches() internal {
        address[2] memory ops = Batches16.operators();
        for (uint256 i; i < ops.length; ++i) registerNode(ops[i], MIN_STAKE);
        address[3] memory clients = Batches16.clients();
        for (uint256 i; i < clients.length; ++i) depositFor(clients[i], 1_000 ether);
    }

    /// @dev The fixture validators' (0xB1..0xB3) keys, each with `stake`.
    function registerFixtureValidators(uint256 stake) internal {
        address[3] memory vals = Batches16.validators();
        for (uint256 i; i < 3; ++i) {
            registerNode(vals[i], stake);
            (bytes memory pk, bytes memory pop) = Batches16.validatorKey(i);
            vm.prank(vals[i]);
            nodes.registerValidatorKey(pk, pop);
        }
    }

    function signedBy(uint256[] memory sks, bytes32 message) internal view returns (bytes memory) {
        uint256 sum;
        for (uint256 i; i < sks.length; ++i) sum = addmod(sum, sks[i], R);
        return BlsKeys.sign(sum, abi.encodePacked(message));
    }

    function fixtureSks() internal pure returns (uint256[] memory sks) {
        uint256[3] memory all = Batches16.validatorSecrets();
        sks = new uint256[](3);
        for (uint256 i; i < 3; ++i) sks[i] = all[i];
    }

    function cert(uint256 referenceBlock, address[] memory nonSigners, bytes memory signature)
        internal
        pure
        returns (Settlement.Certificate memory c)
    {
        (c.referenceBlock, c.nonSigners, c.signature) = (referenceBlock, nonSigners, signature);
    }

    function one(address a) internal pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = a;
    }

}

/// @notice Stake certificates (NodeRegistry.checkCertificate), written as the attacks they stop: keys without live
///         stake sign nothing that counts, stake (not keys) decides, and an unbonding validator stalls nothing.
contract StakeCertificatesTest is StakeValidators {
    /// @notice Attack: the fixture validators hold 3 of 4 keys, unbond fully, wait and withdraw, then sign a batch
    ///         over fabricated leaves (here, a real fixture batch). Their keys left the aggregate with their stake,
    ///         and a reference block from before they left is older than the unbonding delay.
    function test_attack_unbondedExValidatorsCannotSettle() public {
        prepareBatches();
        registerFixtureValidators(MIN_STAKE);
        registerValidator(HONEST, HONEST_SK, MIN_STAKE);
        uint256 beforeExit = block.number;
        vm.roll(block.number + 1);
        address[3] memory vals = Batches16.validators();
        for (uint256 i; i < 3; ++i) {
            vm.prank(vals[i]);
            nodes.requestUnbond(MIN_STAKE);
        }
        vm.roll(block.number + EPOCH);
        for (uint256 i; i < 3; ++i) {
            vm.prank(vals[i]);
            nodes.withdrawUnbonded();
        }
        vm.roll(block.number + 1);
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        bytes memory sig = signedBy(fixtureSks(), settlement.batchSigningRoot(b.batchId, b.root));
        uint256 ref = block.number - 1;
        vm.assertEq(nodes.validatorStakeAt(vals[0], ref), 0, "ex-validator not counted");
        // Naming the honest validator as the only non-signer leaves no signed stake.
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InsufficientSignedStake.selector, 0, MIN_STAKE));
        settlement.submitBatch(b, proof, cert(ref, one(HONEST), sig));
        // Claiming the honest validator signed: their keys are not in the aggregate, so the pairing fails.
        vm.expectRevert(NodeRegistry.InvalidAggregateSignature.selector);
        settlement.submitBatch(b, proof, cert(ref, new address[](0), sig));
        // A reference block from when they were validators is too old.
        vm.expectRevert(
            abi.encodeWithSelector(NodeRegistry.ReferenceBlockTooOld.selector, beforeExit, block.number - EPOCH)
        );
        settlement.submitBatch(b, proof, cert(beforeExit, one(HONEST), sig));
        vm.assertEq(settlement.lastBatchId(), 0, "nothing settled");
    }

    /// @notice 3 of 4 keys (75 %) but 3 of 13 stake units: refused.
    function test_twoThirdsOfKeysUnderTwoThirdsOfStakeFails() public {
        prepareBatches();
        registerFixtureValidators(MIN_STAKE);
        registerValidator(WHALE, WHALE_SK, 10 * MIN_STAKE);
        vm.roll(block.number + 1);
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        bytes memory sig = signedBy(fixtureSks(), settlement.batchSigningRoot(b.batchId, b.root));
        vm.expectRevert(
            abi.encodeWithSelector(NodeRegistry.InsufficientSignedStake.selector, 3 * MIN_STAKE, 13 * MIN_STAKE)
        );
        settlement.submitBatch(b, proof, cert(block.number - 1, one(WHALE), sig));
    }

    /// @notice 2 of 4 keys (50 %) but 11 of 13 stake units: settles, and the signers claim by stake.
    function test_underTwoThirdsOfKeysOverTwoThirdsOfStakePasses() public {
        prepareBatches();
        registerFixtureValidators(MIN_STAKE);
        registerValidator(WHALE, WHALE_SK, 10 * MIN_STAKE);
        vm.roll(block.number + 1);
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        address[3] memory vals = Batches16.validators();
        uint256[] memory sks = new uint256[](2);
        (sks[0], sks[1]) = (Batches16.validatorSecrets()[0], WHALE_SK);
        bytes memory sig = signedBy(sks, settlement.batchSigningRoot(b.batchId, b.root));
        address[] memory nonSigners = new address[](2);
        (nonSigners[0], nonSigners[1]) = (vals[1], vals[2]); // ascending: 0xB2 < 0xB3
        settlement.submitBatch(b, proof, cert(block.number - 1, nonSigners, sig));
        vm.assertEq(settlement.lastBatchId(), 1, "settled");
        vm.prank(WHALE);
        settlement.claimValidatorFees(1, nonSigners);
        vm.assertEq(settlement.credits(WHALE), b.validatorTotal * 10 / 11, "whale paid by stake");
        vm.prank(vals[1]);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotASigner.selector, uint64(1), vals[1]));
        settlement.claimValidatorFees(1, nonSigners);
        vm.prank(vals[0]);
        vm.expectRevert(Settlement.NonSignersMismatch.selector);
        settlement.claimValidatorFees(1, new address[](0)); // a forged list
    }

    /// @notice A validator unbonding (fully) between two batches stalls nothing: the next certificate counts the
    ///         live set, with or without the leaver as a non-signer.
    function test_oneValidatorUnbondingDoesNotStopTheNextBatch() public {
        prepareFixtures();
        (Settlement.Batch memory b1, bytes memory p1) = fixtureBatch(1);
        settlement.submitBatch(b1, p1, certFor(b1));
        address[3] memory vals = Batches16.validators();
        vm.prank(vals[2]);
        nodes.requestUnbond(MIN_STAKE);
        vm.roll(block.number + FREQUENCY);
        (Settlement.Batch memory b2, bytes memory p2) = fixtureBatch(2);
        uint256[] memory sks = fixtureSks();
        assembly ("memory-safe") {
            mstore(sks, 2) // the two who stayed
        }
        bytes memory sig = signedBy(sks, settlement.batchSigningRoot(b2.batchId, b2.root));
        settlement.submitBatch(b2, p2, cert(block.number - 1, new address[](0), sig));
        vm.assertEq(settlement.lastBatchId(), 2, "next batch settled");
        vm.roll(block.number + FREQUENCY);
        (Settlement.Batch memory b3, bytes memory p3) = fixtureBatch(3);
        sig = signedBy(sks, settlement.batchSigningRoot(b3.batchId, b3.root));
        uint256 beforeUnbond = block.number - 2 * FREQUENCY - 1; // the leaver still counted then
        settlement.submitBatch(b3, p3, cert(beforeUnbond, one(vals[2]), sig));
        vm.assertEq(settlement.lastBatchId(), 3, "a reference block before the unbond works too");
    }

    /// @notice A key is in the aggregate iff its validator has bonded stake: full unbond, re-bond and slash to zero.
    function test_aggregateTracksLiveStake() public {
        registerValidator(WHALE, WHALE_SK, MIN_STAKE);
        registerValidator(HONEST, HONEST_SK, MIN_STAKE);
        bytes memory both = BLS.addG1(BlsKeys.publicKey(WHALE_SK), BlsKeys.publicKey(HONEST_SK));
        vm.roll(block.number + 1);
        vm.assertEq(keccak256(nodes.aggregateKeyAt(block.number - 1)), keccak256(both), "both keys");
        vm.assertEq(nodes.totalValidatorStakeAt(block.number - 1), 2 * MIN_STAKE, "both stakes");
        vm.prank(WHALE);
        nodes.requestUnbond(MIN_STAKE);
        vm.roll(block.number + 1);
        vm.assertEq(
            keccak256(nodes.aggregateKeyAt(block.number - 1)), keccak256(BlsKeys.publicKey(HONEST_SK)), "whale left"
        );
        vm.assertEq(keccak256(nodes.aggregateKeyAt(block.number - 2)), keccak256(both), "history kept");
        fund(WHALE, MIN_STAKE);
        vm.startPrank(WHALE);
        token.approve(address(nodes), MIN_STAKE);
        nodes.addStake(MIN_STAKE);
        vm.stopPrank();
        vm.prank(address(settlement));
        nodes.slash(HONEST, MIN_STAKE);
        vm.roll(block.number + 1);
        vm.assertEq(
            keccak256(nodes.aggregateKeyAt(block.number - 1)),
            keccak256(BlsKeys.publicKey(WHALE_SK)),
            "whale back, slashed-to-zero honest out"
        );
        vm.assertEq(nodes.validatorStakeAt(HONEST, block.number - 1), 0, "honest not counted");
        vm.assertEq(nodes.totalValidatorStakeAt(block.number - 1), MIN_STAKE, "total");
        vm.prank(WHALE);
        nodes.requestUnbond(MIN_STAKE);
        vm.roll(block.number + 1);
        vm.assertEq(keccak256(nodes.aggregateKeyAt(block.number - 1)), keccak256(new bytes(128)), "empty: infinity");
    }

    function test_negateG1() public view {
        bytes memory pk = BlsKeys.publicKey(7);
        vm.assertEq(keccak256(BLS.addG1(pk, BLS.negateG1(pk))), keccak256(new bytes(128)), "P + -P = 0");
        vm.assertEq(keccak256(BLS.negateG1(new bytes(128))), keccak256(new bytes(128)), "-0 = 0");
        vm.assertEq(keccak256(BLS.negateG1(BLS.negateG1(pk))), keccak256(pk), "--P = P");
    }
}

/// @notice Gas of NodeRegistry.checkCertificate with 1,000 registered validators and 0, 10 and 100 non-signers,
///         against the baseline of aggregating every signer's registered key (NodeRegistry.verifyAggregate, the
///         per-key check certificates used before). bench/settlement.py --certificates runs this with -vv and
///         prints the figures and their ratios.
contract StakeCertificateGasTest is StakeValidators {
    uint256 internal constant VALIDATORS = 1_000;

    event log_named_uint(string key, uint256 val);

    function test_gas_checkCertificate1000() public {
        address[] memory vals = new address[](VALIDATORS);
        uint256 skSum;
        for (uint256 i; i < VALIDATORS; ++i) {
            vals[i] = address(uint160(0x10000 + i)); // ascending
            registerValidator(vals[i], i + 1, MIN_STAKE);
            skSum = addmod(skSum, i + 1, R);
        }
        vm.roll(block.number + 1);
        bytes32 message = keccak256("a batch signing root");
        uint256[3] memory counts = [uint256(0), 10, 100];
        uint256 base;
        for (uint256 c; c < 3; ++c) {
            address[] memory nonSigners = new address[](counts[c]);
            uint256 signedSum = skSum;
            for (uint256 k; k < counts[c]; ++k) {
                nonSigners[k] = vals[k * 7]; // spread, ascending
                signedSum = addmod(signedSum, R - (k * 7 + 1), R);
            }
            bytes memory sig = BlsKeys.sign(signedSum, abi.encodePacked(message));
            uint256 start = gasleft();
            (uint256 signedStake,) = nodes.checkCertificate(message, block.number - 1, nonSigners, sig);
            uint256 used = start - gasleft();
            vm.assertEq(signedStake, (VALIDATORS - counts[c]) * MIN_STAKE, "signed stake");
            if (c == 0) base = used;
            emit log_named_uint(string.concat("checkCertificate gas, non-signers=", _str(counts[c])), used);
        }
        bytes memory all = BlsKeys.sign(skSum, abi.encodePacked(message));
        uint256 before = gasleft();
        bool ok = nodes.verifyAggregate(vals, abi.encodePacked(message), all);
        uint256 perKey = before - gasleft();
        vm.assertTrue(ok, "baseline verifies");
        emit log_named_uint("baseline verifyAggregate gas, 1000 signer keys", perKey);
        vm.assertEq(nodes.validatorCount(), VALIDATORS, "registered");
        vm.assertGe(base, 1, "measured");
    }

    function _str(uint256 v) private pure returns (string memory) {
        if (v == 0) return "0";
        bytes memory b;
        while (v != 0) {
            b = bytes.concat(bytes1(uint8(48 + v % 10)), b);
            v /= 10;
        }
        return string(b);
    }
}
