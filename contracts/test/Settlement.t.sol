// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Deployed} from "./utils/Deployed.sol";
import {Settlement} from "../src/Settlement.sol";
import {SampleBatches} from "./fixtures/SampleBatches.sol";

contract SettlementTest is Deployed {
    address internal constant CLIENT = address(0xC0FFEE);

    function test_depositAndWithdrawEscrow() public {
        depositFor(CLIENT, 100 ether);
        vm.assertEq(settlement.escrow(CLIENT), 100 ether, "escrow");
        vm.prank(CLIENT);
        settlement.withdrawEscrow(40 ether);
        vm.assertEq(settlement.escrow(CLIENT), 60 ether, "escrow after");
        vm.assertEq(token.balanceOf(CLIENT), 40 ether, "returned");
        vm.assertEq(settlement.totalEscrow(), 60 ether, "total");
    }

    function test_revert_depositZero() public {
        vm.expectRevert(Settlement.ZeroAmount.selector);
        settlement.deposit(0);
    }

    function test_revert_withdrawEscrowTooMuch() public {
        depositFor(CLIENT, 1 ether);
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InsufficientEscrow.selector, CLIENT, 1 ether, 2 ether));
        settlement.withdrawEscrow(2 ether);
    }

    function test_revert_withdrawEscrowZero() public {
        vm.expectRevert(Settlement.ZeroAmount.selector);
        settlement.withdrawEscrow(0);
    }

    function test_submitBatch_settlesAndSplits() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        uint256 total = b.debits[0] + b.debits[1] + b.debits[2];
        uint256 escrowBefore = settlement.totalEscrow();
        settlement.submitBatch(b, proof, certFor(b));
        (uint256 op, uint256 val, uint256 tre) = settlement.split(total);
        vm.assertEq(op, total * 7_800 / 10_000, "operators 78%");
        vm.assertEq(val, total * 1_200 / 10_000, "validators 12%");
        vm.assertEq(op + val + tre, total, "split sums to fee");
        vm.assertEq(settlement.credits(TREASURY), tre, "treasury credited");
        vm.assertEq(settlement.credits(b.operators[0]), b.operatorCredits[0], "operator credited");
        vm.assertEq(settlement.credits(b.validators[2]), b.validatorCredits[2], "validator credited");
        vm.assertEq(settlement.totalEscrow(), escrowBefore - total, "escrow debited");
        vm.assertEq(settlement.escrow(b.clients[1]), 1_000 ether - b.debits[1], "client debited");
        vm.assertEq(settlement.lastBatchId(), 1, "last batch");
        (bytes32 root,, uint32 count, uint256 fee) = settlement.batches(1);
        vm.assertEq(root, b.root, "root stored");
        vm.assertEq(uint256(count), uint256(b.count), "count stored");
        vm.assertEq(fee, total, "fee stored");

        address op0 = b.operators[0];
        vm.prank(op0);
        settlement.withdraw();
        vm.assertEq(token.balanceOf(op0), b.operatorCredits[0], "operator paid");
        vm.assertEq(settlement.credits(op0), 0, "credit cleared");
    }

    function test_revert_neverTwice() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        settlement.submitBatch(b, proof, certFor(b));
        vm.roll(block.number + FREQUENCY);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongBatchId.selector, uint64(2), uint64(1)));
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_tooEarly() public {
        prepareFixtures();
        (Settlement.Batch memory b1, bytes memory p1) = fixtureBatch(1);
        settlement.submitBatch(b1, p1, certFor(b1));
        (Settlement.Batch memory b2, bytes memory p2) = fixtureBatch(2);
        vm.roll(block.number + FREQUENCY - 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.TooEarly.selector, block.number + 1));
        settlement.submitBatch(b2, p2, certFor(b2));
        vm.roll(block.number + 1);
        settlement.submitBatch(b2, p2, certFor(b2));
        vm.assertEq(settlement.lastBatchId(), 2, "second batch settled");
    }

    function test_revert_tamperedCredits() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        b.debits[0] += 1;
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_tamperedRootOrCount() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        b.root = bytes32(uint256(b.root) + 1);
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.count += 1;
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_tamperedProof() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        proof[255] = bytes1(uint8(proof[255]) ^ 1); // C.y: off the curve
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
        (, bytes memory other) = fixtureBatch(2); // a valid proof of another batch
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, other, certFor(b));
    }

    function test_revert_badProofLength() public {
        (Settlement.Batch memory b,) = fixtureBatch(1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadProofLength.selector, 255));
        settlement.submitBatch(b, new bytes(255), certFor(b));
    }

    function test_revert_badShape() public {
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        b.count = 0;
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadBatchSize.selector, uint32(0)));
        settlement.submitBatch(b, proof, certFor(b));
        b.count = 4_097;
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadBatchSize.selector, uint32(4_097)));
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.debits = new uint256[](2);
        vm.expectRevert(Settlement.LengthMismatch.selector);
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.root = bytes32(type(uint256).max);
        vm.expectRevert(Settlement.RootNotInField.selector);
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_insufficientEscrow() public {
        address[2] memory ops = SampleBatches.operators();
        registerNode(ops[0], MIN_STAKE);
        registerNode(ops[1], MIN_STAKE);
        registerValidators();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InsufficientEscrow.selector, b.clients[0], 0, b.debits[0]));
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_inactiveOperator() public {
        address[3] memory clients = SampleBatches.clients();
        for (uint256 i; i < 3; ++i) depositFor(clients[i], 1_000 ether);
        registerValidators();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InactiveOperator.selector, b.operators[0]));
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_splitMismatch() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(SampleBatches.BAD_SPLIT);
        uint256 total = b.debits[0] + b.debits[1] + b.debits[2];
        (uint256 op, uint256 val,) = settlement.split(total);
        vm.expectRevert(abi.encodeWithSelector(Settlement.SplitMismatch.selector, op, op + 1, val, val - 1));
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_committeeCertificate() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        Settlement.Certificate memory c = certFor(b);
        c.signers = hex"01"; // 1 of 3 seats
        vm.expectRevert(abi.encodeWithSelector(Settlement.NoQuorum.selector, 1, 3));
        settlement.submitBatch(b, proof, c);
        c.signers = hex"03"; // 2 of 3 claimed, but all three signed
        vm.expectRevert(Settlement.InvalidCommitteeSignature.selector);
        settlement.submitBatch(b, proof, c);
        c.signers = hex"0f"; // a seat past the committee
        vm.expectRevert(Settlement.BadSignerBitmap.selector);
        settlement.submitBatch(b, proof, c);
        c = certFor(b);
        (c.committee[0], c.committee[1]) = (c.committee[1], c.committee[0]);
        vm.expectRevert(Settlement.BadCommittee.selector); // seats must be distinct, ascending
        settlement.submitBatch(b, proof, c);
        c = certFor(b);
        c.committee = new address[](2);
        vm.expectRevert(Settlement.BadCommittee.selector); // min(quorum size, registered keys) seats
        settlement.submitBatch(b, proof, c);
        c = certFor(b);
        c.signature = SampleBatches.get(2).signature; // the committee signed another batch
        vm.expectRevert(Settlement.InvalidCommitteeSignature.selector);
        settlement.submitBatch(b, proof, c);
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_batchSigningRootMatchesPython() public view {
        // ax0n.certificate.batch_signing_root((1).to_bytes(32, "big"), (1001998).to_bytes(32, "big"), 31337)
        bytes32 expected = 0x78e9656281e0fab63e490c7d9b135cc6e9c0878e78a76bdba05db86bdf1d6bc5;
        vm.assertEq(settlement.batchSigningRoot(1, bytes32(uint256(1001998))), expected, "signing root");
    }

    function test_revert_withdrawNothing() public {
        vm.expectRevert(Settlement.NothingToWithdraw.selector);
        settlement.withdraw();
    }

    function test_creditsDigestMatchesPython() public view {
        (Settlement.Batch memory b,) = fixtureBatch(1);
        // ax0n.chain.batch.Batch.credits_digest() of fixture batch 1 (contracts/script/sample_verifier.py).
        uint256 expected = 9287220825313286473062898313701379491135552542210613987274453388772683559638;
        vm.assertEq(settlement.creditsDigest(b), expected, "same digest as Python");
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_splitExact(uint256 total) public view {
        total = bound(total, 0, type(uint128).max);
        (uint256 op, uint256 val, uint256 tre) = settlement.split(total);
        vm.assertEq(op + val + tre, total, "sums to total");
        vm.assertEq(op, total * 7_800 / 10_000, "operators");
        vm.assertEq(val, total * 1_200 / 10_000, "validators");
        vm.assertGe(tre * 10_000, total * 1_000, "treasury >= 10%");
        vm.assertLe(tre * 10_000, total * 1_000 + 2 * 10_000, "dust < 2 units");
    }

    function testFuzz_escrowRoundTrip(uint256 amount, uint256 back) public {
        amount = bound(amount, 1, 1_000_000 ether);
        back = bound(back, 1, amount);
        depositFor(CLIENT, amount);
        vm.prank(CLIENT);
        settlement.withdrawEscrow(back);
        vm.assertEq(settlement.escrow(CLIENT), amount - back, "escrow");
        vm.assertEq(token.balanceOf(address(settlement)), amount - back, "held");
    }
}
