// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Deployed} from "./utils/Deployed.sol";
import {Settlement} from "../src/Settlement.sol";
import {Batches16} from "./fixtures/Batches16.sol";
import {BlsKeys} from "./utils/BlsKeys.sol";
import {IZkVerifier} from "../src/interfaces/IZkVerifier.sol";
import {MlpVerifier} from "../src/verifiers/MlpVerifier.sol";

/// @notice Settlement against the generated Batch16Verifier with batches proved under this machine's setup.
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
        uint256 escrowBefore = settlement.totalEscrow();
        settlement.submitBatch(b, proof, certFor(b));

        uint256 perValidator = b.validatorTotal / 3;
        uint256 dust = b.validatorTotal - 3 * perValidator;
        vm.assertEq(operatorTotal(b) + b.validatorTotal + b.treasuryTotal, b.feeTotal, "split sums to fee");
        vm.assertGe(b.treasuryTotal * 10_000, b.feeTotal * 1_000, "treasury >= 10%");
        vm.assertEq(settlement.credits(TREASURY), b.treasuryTotal + dust, "treasury credited (+ validator dust)");
        address[3] memory vals = Batches16.validators();
        for (uint256 k; k < 3; ++k) vm.assertEq(settlement.credits(vals[k]), perValidator, "signer credited");
        for (uint256 k; k < 2; ++k) {
            address op = address(uint160(b.operators[k]));
            vm.assertEq(settlement.credits(op), b.operatorAmounts[k], "operator credited");
        }
        for (uint256 k; k < 3; ++k) {
            address client = address(uint160(b.clients[k]));
            vm.assertEq(settlement.escrow(client), 1_000 ether - b.clientAmounts[k], "client debited");
        }
        vm.assertEq(settlement.totalEscrow(), escrowBefore - b.feeTotal, "escrow debited");
        vm.assertEq(settlement.totalCredits(), b.feeTotal, "credits");
        vm.assertEq(settlement.lastBatchId(), 1, "last batch");
        (bytes32 root,, uint32 count, uint256 fee) = settlement.batches(1);
        vm.assertEq(root, b.root, "root stored");
        vm.assertEq(uint256(count), uint256(b.count), "count stored");
        vm.assertEq(fee, b.feeTotal, "fee stored");

        address op0 = address(uint160(b.operators[0]));
        vm.prank(op0);
        settlement.withdraw();
        vm.assertEq(token.balanceOf(op0), b.operatorAmounts[0], "operator paid");
        vm.assertEq(settlement.credits(op0), 0, "credit cleared");
    }

    function test_publicInputsLayout() public view {
        (Settlement.Batch memory b,) = fixtureBatch(2);
        uint256[72] memory input = settlement.publicInputs(b);
        vm.assertEq(input[0], 2, "batch id");
        vm.assertEq(input[1], uint256(b.root), "root");
        vm.assertEq(input[3], 7_800, "operator bps from ProtocolParams");
        vm.assertEq(input[4], 1_200, "validator bps from ProtocolParams");
        vm.assertEq(input[7], b.treasuryTotal, "treasury total");
        vm.assertEq(input[8], b.operators[0], "first operator slot");
        vm.assertEq(input[8 + 32 + 2], b.clients[2], "third client slot");
        vm.assertEq(input[71], b.clientAmounts[15], "last client amount");
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

    /// @dev Amounts moved between slots keep every sum, but the proof no longer matches.
    function test_revert_tamperedAmounts() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        b.operatorAmounts[0] += 1;
        b.operatorAmounts[1] -= 1;
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.clientAmounts[0] -= 1;
        b.clientAmounts[2] += 1;
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.validatorTotal += 1;
        b.treasuryTotal -= 1;
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        (b.operators[0], b.operators[1]) = (b.operators[1], b.operators[0]);
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

    /// @dev The proof was made with 78/12 bps; after governance changes the shares it no longer verifies.
    function test_revert_sharesDifferFromParams() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        params.set("operator_fee_share_bps", 7_700);
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
        params.set("operator_fee_share_bps", 7_800);
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
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadProofLength.selector, 288));
        settlement.submitBatch(b, new bytes(288), certFor(b));
    }

    function test_revert_badShape() public {
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        b.count = 0;
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadBatchSize.selector, uint32(0)));
        settlement.submitBatch(b, proof, certFor(b));
        b.count = 17;
        vm.expectRevert(abi.encodeWithSelector(Settlement.BadBatchSize.selector, uint32(17)));
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.root = bytes32(type(uint256).max);
        vm.expectRevert(Settlement.RootNotInField.selector);
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.operators[15] = 1 << 160;
        vm.expectRevert(abi.encodeWithSelector(Settlement.SlotNotAddress.selector, uint256(1 << 160)));
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.clients[3] = type(uint256).max;
        vm.expectRevert(abi.encodeWithSelector(Settlement.SlotNotAddress.selector, type(uint256).max));
        settlement.submitBatch(b, proof, certFor(b));
        (b, proof) = fixtureBatch(1);
        b.treasuryTotal += 1;
        vm.expectRevert(
            abi.encodeWithSelector(Settlement.SplitMismatch.selector, b.feeTotal, b.feeTotal, b.feeTotal + 1)
        );
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_insufficientEscrow() public {
        address[2] memory ops = Batches16.operators();
        registerNode(ops[0], MIN_STAKE);
        registerNode(ops[1], MIN_STAKE);
        registerValidators();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        address client = address(uint160(b.clients[0]));
        vm.expectRevert(abi.encodeWithSelector(Settlement.InsufficientEscrow.selector, client, 0, b.clientAmounts[0]));
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_inactiveOperator() public {
        address[3] memory clients = Batches16.clients();
        for (uint256 i; i < 3; ++i) depositFor(clients[i], 1_000 ether);
        registerValidators();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InactiveOperator.selector, address(uint160(b.operators[0]))));
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
        (,, c.signature) = Batches16.get(2); // the committee signed another batch
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

    /// @dev Any single public value changed, with the books kept balanced, fails the proof.
    /// forge-config: default.fuzz.runs = 24
    function testFuzz_tamperedSlotRefused(uint256 slot, uint256 delta, bool client) public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        slot = bound(slot, 0, 15);
        delta = bound(delta, 1, b.treasuryTotal);
        if (client) {
            b.clientAmounts[slot] += delta;
            b.clientAmounts[0] -= delta;
            if (slot == 0) b.clients[0] += 1; // same amounts: change the address instead
        } else {
            b.operatorAmounts[slot] += delta;
            b.treasuryTotal -= delta;
        }
        vm.expectRevert(Settlement.InvalidBatchProof.selector);
        settlement.submitBatch(b, proof, certFor(b));
    }

    /// @dev A receipt's EIP-712 encodeData words (ax0n.chain.challenge.receipt_words of a fixed receipt).
    function receiptFixture() internal pure returns (bytes32[17] memory w) {
        return Batches16.receiptWords();
    }

    function test_receiptHashMatchesPython() public {
        // ax0n.spec.receipt.receipt_hash of the fixture receipt, signed for chain 31337 and the Settlement at
        // Batches16.SETTLEMENT (computed by the fixture script): this contract's code at that address agrees
        vm.etch(Batches16.SETTLEMENT, address(settlement).code);
        vm.assertEq(Settlement(Batches16.SETTLEMENT).receiptHash(receiptFixture()), Batches16.RECEIPT_HASH, "digest");
        vm.assertTrue(settlement.receiptHash(receiptFixture()) != Batches16.RECEIPT_HASH, "another Settlement's");
        vm.assertEq(receiptFixture()[0], settlement.RECEIPT_TYPEHASH(), "type hash");
    }

    function test_setZkVerifier() public {
        IZkVerifier v = IZkVerifier(address(new MlpVerifier()));
        vm.prank(address(0xBAD));
        vm.expectRevert(Settlement.OnlyDeployer.selector);
        settlement.setZkVerifier(v);
        settlement.setZkVerifier(v);
        vm.assertEq(address(settlement.zkVerifier()), address(v), "bound");
        vm.expectRevert(Settlement.ZkVerifierSet.selector);
        settlement.setZkVerifier(v);
    }

    /// @dev The full challenge path (real MLP proof, signed receipt, slash, reward) is tests/chain/test_challenge.py.
    function test_revert_challengeMalformed() public {
        bytes32[17] memory w = receiptFixture();
        bytes32[6] memory route;
        vm.expectRevert(Settlement.ChallengesDisabled.selector);
        settlement.challengeZkOutput(address(1), w, route, "", "", 1);
        settlement.setZkVerifier(IZkVerifier(address(new MlpVerifier())));
        w[4] = bytes32(uint256(2)); // LLM tier
        vm.expectRevert(Settlement.NotZkReceipt.selector);
        settlement.challengeZkOutput(address(1), w, route, "", "", 1);
        w = receiptFixture();
        vm.expectRevert(Settlement.RouteMismatch.selector); // not the receipt's route
        settlement.challengeZkOutput(address(1), w, route, "", "", 1);
        route[0] = settlement.ROUTE_TYPEHASH();
        route[4] = bytes32(block.number);
        w[10] = keccak256(abi.encodePacked(route));
        w[16] = bytes32(uint256(1));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongChain.selector, 1));
        settlement.challengeZkOutput(address(1), w, route, "", "", 1);
        w[16] = bytes32(block.chainid);
        w[0] = 0;
        vm.expectRevert(Settlement.NotReceipt.selector);
        settlement.challengeZkOutput(address(1), w, route, "", "", 1);
    }

    uint256 internal constant NODE_KEY = 0xA11CE;

    /// @dev A receipt by NODE_KEY for `requestId` whose route snapshot is this block, with its route and signature.
    function signedReceipt(bytes32 requestId, bytes32 outputHash)
        internal
        view
        returns (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig)
    {
        w = receiptFixture();
        route[0] = settlement.ROUTE_TYPEHASH();
        route[4] = bytes32(block.number);
        w[1] = requestId;
        w[6] = outputHash;
        w[9] = bytes32(uint256(uint160(vm.addr(NODE_KEY))));
        w[10] = keccak256(abi.encodePacked(route));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(NODE_KEY, settlement.receiptHash(w));
        sig = abi.encodePacked(r, s, v);
    }

    function test_challengeEquivocation() public {
        address op = address(0x0FE);
        fund(op, MIN_STAKE);
        vm.startPrank(op);
        token.approve(address(nodes), MIN_STAKE);
        nodes.register(MIN_STAKE, new bytes32[](0), "grpc://node:7001", vm.addr(NODE_KEY), "default");
        vm.stopPrank();
        (bytes32[17] memory a, bytes32[6] memory route, bytes memory sigA) = signedReceipt("req", "out A");
        (bytes32[17] memory b,, bytes memory sigB) = signedReceipt("req", "out B");
        (bytes32[17] memory c,, bytes memory sigC) = signedReceipt("other req", "out B");

        vm.expectRevert(Settlement.NotEquivocation.selector); // the same receipt twice
        settlement.challengeEquivocation(op, a, route, sigA, a, sigA);
        vm.expectRevert(Settlement.NotEquivocation.selector); // two requests
        settlement.challengeEquivocation(op, a, route, sigA, c, sigC);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotOperatorsReceipt.selector, vm.addr(NODE_KEY)));
        settlement.challengeEquivocation(address(0xBEEF), a, route, sigA, b, sigB); // not 0xBEEF's key
        b[0] = 0;
        vm.expectRevert(Settlement.NotReceipt.selector);
        settlement.challengeEquivocation(op, a, route, sigA, b, sigB);
        (b,, sigB) = signedReceipt("req", "out B");

        vm.prank(CLIENT);
        settlement.challengeEquivocation(op, a, route, sigA, b, sigB);
        vm.assertEq(nodes.node(op).stake, 0, "slashed");
        vm.assertEq(settlement.credits(CLIENT), MIN_STAKE / 2, "challenger reward");
        vm.assertEq(settlement.credits(TREASURY), MIN_STAKE - MIN_STAKE / 2, "treasury");
        vm.assertEq(token.balanceOf(address(settlement)), settlement.totalCredits(), "solvent");
        bytes32 key = keccak256(abi.encode(op, bytes32("req")));
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, key));
        settlement.challengeEquivocation(op, b, route, sigB, a, sigA);

        vm.roll(block.number + SLASH_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChallengeWindowClosed.selector, block.number - 1));
        settlement.challengeEquivocation(op, a, route, sigA, b, sigB);
    }

    // Quorum faults (challengeQuorumFault). The committee is the fixture validators (Batches16: 0xB1..0xB3); the
    // tests sign as them at run time (BlsKeys, the EIP-2537 MSM precompiles, byte-compatible with ax0n.spec.bls).

    uint256 internal constant FAULT_BLOCK = 1_000;

    /// @dev An LLM-tier receipt by NODE_KEY (request "fault req", output "bad out") routed at FAULT_BLOCK.
    function faultyReceipt() internal returns (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) {
        vm.roll(FAULT_BLOCK);
        (w, route,) = signedReceipt("fault req", "bad out");
        w[4] = bytes32(uint256(2)); // LLM tier
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(NODE_KEY, settlement.receiptHash(w));
        sig = abi.encodePacked(r, s, v);
    }

    /// @dev The fixture validators as a committee, `signers` the bitmap, `signature` their EIP-2537 aggregate.
    function faultCert(bytes memory signers, bytes memory signature) internal pure returns (Settlement.Certificate memory c) {
        address[3] memory vals = Batches16.validators();
        c.committee = new address[](3);
        for (uint256 k; k < 3; ++k) c.committee[k] = vals[k];
        c.signers = signers;
        c.signature = signature;
    }

    /// @dev The aggregate signature over `message` of the fixture validators whose bit is set in `mask`.
    function fixtureSigned(uint8 mask, bytes32 message) internal view returns (bytes memory) {
        uint256[3] memory all = Batches16.validatorSecrets();
        uint256[] memory sks = new uint256[](3);
        uint256 n;
        for (uint256 k; k < 3; ++k) {
            if (mask >> k & 1 == 1) sks[n++] = all[k];
        }
        assembly ("memory-safe") {
            mstore(sks, n)
        }
        return BlsKeys.signAll(sks, abi.encodePacked(message));
    }

    /// @dev Validators in `mask` over faultSigningRoot(digest).
    function faultSigned(uint8 mask, bytes32 digest) internal view returns (bytes memory) {
        return fixtureSigned(mask, settlement.faultSigningRoot(digest));
    }

    /// @dev All three over the same object root, sha256(digest), under the batch domain "AXBT".
    function signedAsBatch(bytes32 digest) internal view returns (bytes memory) {
        bytes32 domain = bytes32(bytes4("AXBT")) | (sha256(abi.encode(block.chainid)) >> 32);
        return fixtureSigned(7, sha256(abi.encodePacked(sha256(abi.encode(digest)), domain)));
    }

    /// @dev The fixture validators with BLS keys, and an operator whose registered signing key is NODE_KEY's.
    function prepareQuorumFault() internal returns (address op) {
        registerValidators();
        op = address(0x0FE);
        fund(op, MIN_STAKE);
        vm.startPrank(op);
        token.approve(address(nodes), MIN_STAKE);
        nodes.register(MIN_STAKE, new bytes32[](0), "grpc://node:7001", vm.addr(NODE_KEY), "default");
        vm.stopPrank();
    }

    function test_faultSigningRootMatchesPython() public view {
        // ax0n.spec.certificate.fault_signing_root(digest, 31337) of this digest
        bytes32 digest = 0x2de1cabdbda936354e91a01863ddbf21ab15de8dc509c816b233b966e4b94ab1;
        bytes32 expected = 0x09a1a191f0d56ba1079015769efbf2ffe7bde351f6b44b90dd4a3da92c5cd343;
        vm.assertEq(settlement.faultSigningRoot(digest), expected, "fault signing root");
    }

    function test_challengeQuorumFault_slashesAndRewards() public {
        address op = prepareQuorumFault();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert3of3 = faultCert(hex"03", faultSigned(3, digest));
        Settlement.Certificate memory cert7of7 = faultCert(hex"07", faultSigned(7, digest));
        vm.expectEmit();
        uint256 slashed = MIN_STAKE * params.get("slash_quorum_fault_bps") / 10_000; // the fault class's ratio
        uint256 reward = slashed * params.get("challenger_reward_bps") / 10_000;
        emit Settlement.QuorumFaultChallenged(op, digest, CLIENT, slashed, reward);
        vm.prank(CLIENT);
        settlement.challengeQuorumFault(op, w, route, sig, cert3of3); // 2 of 3 = 2/3
        vm.assertEq(nodes.node(op).stake, MIN_STAKE - slashed, "slashed by its ratio");
        vm.assertFalse(nodes.isActive(op), "below min_node_stake: inactive");
        vm.assertTrue(settlement.challenged(digest), "receipt marked");
        vm.assertEq(settlement.credits(CLIENT), reward, "challenger reward");
        vm.assertEq(settlement.credits(TREASURY), slashed - reward, "treasury");
        vm.assertEq(token.balanceOf(address(settlement)), settlement.totalCredits(), "solvent");
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, digest));
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7);
    }

    function test_revert_challengeQuorumFault_certificate() public {
        address op = prepareQuorumFault();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert1of3 = faultCert(hex"01", faultSigned(3, digest));
        Settlement.Certificate memory cert7of3 = faultCert(hex"07", faultSigned(3, digest));
        Settlement.Certificate memory cert7of7 = faultCert(hex"07", faultSigned(7, digest));
        Settlement.Certificate memory cert7asBatch = faultCert(hex"07", signedAsBatch(digest));
        vm.expectRevert(abi.encodeWithSelector(Settlement.NoQuorum.selector, 1, 3));
        settlement.challengeQuorumFault(op, w, route, sig, cert1of3);
        vm.expectRevert(Settlement.InvalidCommitteeSignature.selector); // claims 3 signers, 2 signed
        settlement.challengeQuorumFault(op, w, route, sig, cert7of3);
        vm.expectRevert(Settlement.InvalidCommitteeSignature.selector); // the same root signed as a batch
        settlement.challengeQuorumFault(op, w, route, sig, cert7asBatch);
        (,, bytes memory batchSig) = Batches16.get(1); // the committee's real certificate of batch 1
        vm.expectRevert(Settlement.InvalidCommitteeSignature.selector);
        settlement.challengeQuorumFault(op, w, route, sig, faultCert(hex"07", batchSig));
        Settlement.Certificate memory c = faultCert(hex"07", cert7of7.signature); // a copy to break
        (c.committee[0], c.committee[1]) = (c.committee[1], c.committee[0]);
        vm.expectRevert(Settlement.BadCommittee.selector); // distinct, ascending
        settlement.challengeQuorumFault(op, w, route, sig, c);
        c.committee = new address[](2);
        vm.expectRevert(Settlement.BadCommittee.selector); // min(quorum size, registered keys) seats
        settlement.challengeQuorumFault(op, w, route, sig, c);
        vm.assertEq(nodes.node(op).stake, MIN_STAKE, "nothing slashed yet");
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7);
        vm.assertLe(nodes.node(op).stake, MIN_STAKE * 9 / 10, "the valid certificate slashes");
    }

    function test_revert_challengeQuorumFault_receipt() public {
        address op = prepareQuorumFault();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert7of7 = faultCert(hex"07", faultSigned(7, digest));
        Settlement.Certificate memory c = faultCert(hex"07", cert7of7.signature); // a copy to break
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotOperatorsReceipt.selector, vm.addr(NODE_KEY)));
        settlement.challengeQuorumFault(address(0xBEEF), w, route, sig, c); // not 0xBEEF's signing key
        route[4] = bytes32(FAULT_BLOCK + 1);
        vm.expectRevert(Settlement.RouteMismatch.selector);
        settlement.challengeQuorumFault(op, w, route, sig, c);
        route[4] = bytes32(FAULT_BLOCK);
        vm.roll(FAULT_BLOCK + SLASH_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChallengeWindowClosed.selector, FAULT_BLOCK + SLASH_WINDOW));
        settlement.challengeQuorumFault(op, w, route, sig, c);
        vm.roll(FAULT_BLOCK + SLASH_WINDOW); // the window's last block
        settlement.challengeQuorumFault(op, w, route, sig, c);
        vm.assertLe(nodes.node(op).stake, MIN_STAKE * 9 / 10, "slashed on the last block");
    }

    /// @dev The zk-tier twin of faultyReceipt (tier 1).
    function faultyZkReceipt() internal returns (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) {
        vm.roll(FAULT_BLOCK);
        (w, route, sig) = signedReceipt("fault req", "bad out");
    }

    /// @dev A zk verifier that accepts any proof (runtime: return 1), so the zk path reaches its slash in forge;
    ///      tests/chain/test_challenge.py runs challengeZkOutput with the real MlpVerifier and a real proof.
    function acceptAnyZkProof() internal {
        bytes memory init = hex"600a600c600039600a6000f3600160005260206000f3";
        address v;
        assembly ("memory-safe") {
            v := create(0, add(init, 0x20), mload(init))
        }
        settlement.setZkVerifier(IZkVerifier(v));
    }

    function test_revert_challengeQuorumFault_afterZkChallenge() public {
        address op = prepareQuorumFault();
        acceptAnyZkProof();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyZkReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert7of7 = faultCert(hex"07", faultSigned(7, digest));
        settlement.challengeZkOutput(op, w, route, sig, new bytes(256), 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, digest));
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7);
    }

    function test_revert_challengeZkOutput_afterQuorumFault() public {
        address op = prepareQuorumFault();
        acceptAnyZkProof();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyZkReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert7of7 = faultCert(hex"07", faultSigned(7, digest));
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7);
        vm.assertLe(nodes.node(op).stake, MIN_STAKE * 9 / 10, "slashed by the quorum");
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, digest));
        settlement.challengeZkOutput(op, w, route, sig, new bytes(256), 1);
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
