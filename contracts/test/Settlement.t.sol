// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {KeyProofs} from "./utils/KeyProofs.sol";

import {Deployed} from "./utils/Deployed.sol";
import {Settlement} from "../src/Settlement.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
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
        settlement.requestEscrowWithdrawal(40 ether);
        uint64 due = uint64(block.number + EPOCH);
        vm.assertEq(settlement.escrow(CLIENT), 100 ether, "still escrowed while locked");
        vm.roll(due - 1);
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WithdrawalPending.selector, due));
        settlement.withdrawEscrow();
        vm.roll(due);
        vm.prank(CLIENT);
        settlement.withdrawEscrow();
        vm.assertEq(settlement.escrow(CLIENT), 60 ether, "escrow after");
        vm.assertEq(token.balanceOf(CLIENT), 40 ether, "returned");
        vm.assertEq(settlement.totalEscrow(), 60 ether, "total");
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NoWithdrawalRequested.selector, CLIENT));
        settlement.withdrawEscrow(); // once
    }

    function test_revert_depositZero() public {
        vm.expectRevert(Settlement.ZeroAmount.selector);
        settlement.deposit(0);
    }

    function test_revert_withdrawEscrowTooMuch() public {
        depositFor(CLIENT, 1 ether);
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(Settlement.InsufficientEscrow.selector, CLIENT, 1 ether, 2 ether));
        settlement.requestEscrowWithdrawal(2 ether);
    }

    function test_revert_withdrawEscrowZero() public {
        vm.expectRevert(Settlement.ZeroAmount.selector);
        settlement.requestEscrowWithdrawal(0);
    }

    /// @notice Attack: a client reads its output, then pulls its escrow before the node's receipt settles. The
    ///         escrow stays spendable until the lock ends, the batch settles within it, and the node is paid;
    ///         the client gets what is left.
    function test_attack_withdrawAfterServiceLeavesTheNodePaid() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        address client = address(uint160(b.clients[0]));
        uint256 deposited = settlement.escrow(client);
        vm.prank(client); // served: it withdraws everything at once
        settlement.requestEscrowWithdrawal(deposited);
        vm.roll(block.number + FREQUENCY); // the next settlement round, well inside the lock
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(Settlement.WithdrawalPending.selector, uint64(block.number - FREQUENCY + EPOCH)));
        settlement.withdrawEscrow();
        settlement.submitBatch(b, proof, certFor(b));
        address op0 = address(uint160(b.operators[0]));
        vm.assertEq(settlement.credits(op0), b.operatorAmounts[0], "the node is paid");
        vm.roll(block.number + EPOCH);
        vm.prank(client);
        uint256 back = settlement.withdrawEscrow();
        vm.assertEq(back, deposited - b.clientAmounts[0], "the client gets the rest");
        vm.assertEq(settlement.escrow(client), 0, "nothing left");
    }

    function test_submitBatch_settlesAndSplits() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        uint256 escrowBefore = settlement.totalEscrow();
        settlement.submitBatch(b, proof, certFor(b));

        uint256 perValidator = b.validatorTotal / 3; // equal stake
        vm.assertEq(operatorTotal(b) + b.validatorTotal + b.treasuryTotal, b.feeTotal, "split sums to fee");
        vm.assertGe(b.treasuryTotal * 10_000, b.feeTotal * 1_000, "treasury >= 10%");
        vm.assertEq(settlement.credits(TREASURY), b.treasuryTotal, "treasury credited");
        vm.assertEq(settlement.totalValidatorPool(), b.validatorTotal, "validator fees held for the signers");
        address[3] memory vals = Batches16.validators();
        for (uint256 k; k < 3; ++k) {
            vm.prank(vals[k]);
            settlement.claimValidatorFees(1, new address[](0));
            vm.assertEq(settlement.credits(vals[k]), perValidator, "signer credited by stake");
        }
        vm.prank(vals[0]);
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyClaimed.selector, uint64(1), vals[0]));
        settlement.claimValidatorFees(1, new address[](0));
        vm.assertEq(settlement.totalValidatorPool(), b.validatorTotal - 3 * perValidator, "flooring dust stays");
        for (uint256 k; k < 2; ++k) {
            address op = address(uint160(b.operators[k]));
            vm.assertEq(settlement.credits(op), b.operatorAmounts[k], "operator credited");
        }
        for (uint256 k; k < 3; ++k) {
            address client = address(uint160(b.clients[k]));
            vm.assertEq(settlement.escrow(client), 1_000 ether - b.clientAmounts[k], "client debited");
        }
        vm.assertEq(settlement.totalEscrow(), escrowBefore - b.feeTotal, "escrow debited");
        vm.assertEq(settlement.totalCredits() + settlement.totalValidatorPool(), b.feeTotal, "credits");
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

    function test_revert_stakeCertificate() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        address[3] memory vals = Batches16.validators();
        Settlement.Certificate memory c = certFor(b);
        c.nonSigners = new address[](1);
        c.nonSigners[0] = vals[0]; // claims vals[0] did not sign, but all three did
        vm.expectRevert(NodeRegistry.InvalidAggregateSignature.selector);
        settlement.submitBatch(b, proof, c);
        c.nonSigners = new address[](2);
        (c.nonSigners[0], c.nonSigners[1]) = (vals[1], vals[0]);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NonSignersNotAscending.selector, 1));
        settlement.submitBatch(b, proof, c);
        (c.nonSigners[0], c.nonSigners[1]) = (vals[0], vals[0]);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NonSignersNotAscending.selector, 1)); // no repeats
        settlement.submitBatch(b, proof, c);
        (c.nonSigners[0], c.nonSigners[1]) = (vals[0], vals[1]); // 1 of 3 equal stakes left
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InsufficientSignedStake.selector, MIN_STAKE, 3 * MIN_STAKE));
        settlement.submitBatch(b, proof, c);
        c = certFor(b);
        c.nonSigners = new address[](1);
        c.nonSigners[0] = address(0xBEEF);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotCountedAtReference.selector, address(0xBEEF), block.number - 1));
        settlement.submitBatch(b, proof, c);
        c = certFor(b);
        c.referenceBlock = block.number;
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.ReferenceBlockNotPast.selector, block.number, block.number));
        settlement.submitBatch(b, proof, c);
        c.referenceBlock = block.number - 2; // before the validators registered: no stake, no aggregate
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InsufficientSignedStake.selector, 0, 0));
        settlement.submitBatch(b, proof, c);
        c = certFor(b);
        (,, c.signature) = Batches16.get(2); // the validators signed another batch
        vm.expectRevert(NodeRegistry.InvalidAggregateSignature.selector);
        settlement.submitBatch(b, proof, c);
        settlement.submitBatch(b, proof, certFor(b));
    }

    function test_revert_staleReferenceBlock() public {
        prepareFixtures();
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(1);
        Settlement.Certificate memory c = certFor(b);
        vm.roll(c.referenceBlock + EPOCH + 1); // older than node_epoch_length: its signers may have left
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.ReferenceBlockTooOld.selector, c.referenceBlock, c.referenceBlock + 1));
        settlement.submitBatch(b, proof, c);
        vm.roll(c.referenceBlock + EPOCH); // the oldest allowed
        settlement.submitBatch(b, proof, c);
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
        settlement.challengeZkOutput(address(1), w, route, "", "", 1, CLIENT);
        settlement.setZkVerifier(IZkVerifier(address(new MlpVerifier())));
        w[4] = bytes32(uint256(2)); // LLM tier
        vm.expectRevert(Settlement.NotZkReceipt.selector);
        settlement.challengeZkOutput(address(1), w, route, "", "", 1, CLIENT);
        w = receiptFixture();
        vm.expectRevert(Settlement.RouteMismatch.selector); // not the receipt's route
        settlement.challengeZkOutput(address(1), w, route, "", "", 1, CLIENT);
        route[0] = settlement.ROUTE_TYPEHASH();
        route[4] = bytes32(block.number);
        w[10] = keccak256(abi.encodePacked(route));
        w[16] = bytes32(uint256(1));
        vm.expectRevert(abi.encodeWithSelector(Settlement.WrongChain.selector, 1));
        settlement.challengeZkOutput(address(1), w, route, "", "", 1, CLIENT);
        w[16] = bytes32(block.chainid);
        w[0] = 0;
        vm.expectRevert(Settlement.NotReceipt.selector);
        settlement.challengeZkOutput(address(1), w, route, "", "", 1, CLIENT);
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
        nodes.register(
            MIN_STAKE, new bytes32[](0), "grpc://node:7001", vm.addr(NODE_KEY), "default", KeyProofs.proofWith(nodes, NODE_KEY, op)
        );
        vm.stopPrank();
        commit(keccak256(abi.encode(op, bytes32("req"))));
        (bytes32[17] memory a, bytes32[6] memory route, bytes memory sigA) = signedReceipt("req", "out A");
        (bytes32[17] memory b,, bytes memory sigB) = signedReceipt("req", "out B");
        (bytes32[17] memory c,, bytes memory sigC) = signedReceipt("other req", "out B");

        vm.expectRevert(Settlement.NotEquivocation.selector); // the same receipt twice
        settlement.challengeEquivocation(op, a, route, sigA, a, sigA, CLIENT);
        vm.expectRevert(Settlement.NotEquivocation.selector); // two requests
        settlement.challengeEquivocation(op, a, route, sigA, c, sigC, CLIENT);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotOperatorsReceipt.selector, vm.addr(NODE_KEY)));
        settlement.challengeEquivocation(address(0xBEEF), a, route, sigA, b, sigB, CLIENT); // not 0xBEEF's key
        b[0] = 0;
        vm.expectRevert(Settlement.NotReceipt.selector);
        settlement.challengeEquivocation(op, a, route, sigA, b, sigB, CLIENT);
        (b,, sigB) = signedReceipt("req", "out B");

        vm.prank(CLIENT);
        settlement.challengeEquivocation(op, a, route, sigA, b, sigB, CLIENT);
        vm.assertEq(nodes.node(op).stake, 0, "slashed");
        vm.assertEq(settlement.credits(CLIENT), MIN_STAKE / 2, "challenger reward");
        vm.assertEq(settlement.credits(TREASURY), MIN_STAKE - MIN_STAKE / 2, "treasury");
        vm.assertEq(token.balanceOf(address(settlement)), settlement.totalCredits(), "solvent");
        bytes32 key = keccak256(abi.encode(op, bytes32("req")));
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, key));
        settlement.challengeEquivocation(op, b, route, sigB, a, sigA, CLIENT);

        vm.roll(block.number + SLASH_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChallengeWindowClosed.selector, block.number - 1));
        settlement.challengeEquivocation(op, a, route, sigA, b, sigB, CLIENT);
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
        commit(settlement.receiptHash(w));
    }

    /// @dev Commit to challenging `key` for CLIENT (commitChallenge), then move to the next block, where the
    ///      challenge is accepted.
    function commit(bytes32 key) internal {
        settlement.commitChallenge(settlement.challengeCommitment(key, CLIENT));
        vm.roll(block.number + 1);
    }

    /// @dev A stake certificate over the previous block: the fixture validators whose bit is set in `nonSigned`
    ///      did not sign, `signature` is the others' aggregate.
    function faultCert(uint8 nonSigned, bytes memory signature) internal view returns (Settlement.Certificate memory c) {
        address[3] memory vals = Batches16.validators();
        c.referenceBlock = block.number - 1;
        c.nonSigners = new address[](3);
        uint256 n;
        for (uint256 k; k < 3; ++k) {
            if (nonSigned >> k & 1 == 1) c.nonSigners[n++] = vals[k];
        }
        address[] memory list = c.nonSigners;
        assembly ("memory-safe") {
            mstore(list, n)
        }
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
        nodes.register(
            MIN_STAKE, new bytes32[](0), "grpc://node:7001", vm.addr(NODE_KEY), "default", KeyProofs.proofWith(nodes, NODE_KEY, op)
        );
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
        Settlement.Certificate memory cert3of3 = faultCert(4, faultSigned(3, digest));
        Settlement.Certificate memory cert7of7 = faultCert(0, faultSigned(7, digest));
        vm.expectEmit();
        uint256 slashed = MIN_STAKE * params.get("slash_quorum_fault_bps") / 10_000; // the fault class's ratio
        uint256 reward = slashed * params.get("challenger_reward_bps") / 10_000;
        emit Settlement.QuorumFaultChallenged(op, digest, CLIENT, slashed, reward);
        vm.prank(CLIENT);
        settlement.challengeQuorumFault(op, w, route, sig, cert3of3, CLIENT); // 2 of 3 = 2/3
        vm.assertEq(nodes.node(op).stake, MIN_STAKE - slashed, "slashed by its ratio");
        vm.assertFalse(nodes.isActive(op), "below min_node_stake: inactive");
        vm.assertTrue(settlement.challenged(digest), "receipt marked");
        vm.assertEq(settlement.credits(CLIENT), reward, "challenger reward");
        vm.assertEq(settlement.credits(TREASURY), slashed - reward, "treasury");
        vm.assertEq(token.balanceOf(address(settlement)), settlement.totalCredits(), "solvent");
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, digest));
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7, CLIENT);
    }

    /// @notice Attack: the fixture validators (3 of 4 keys) unbond fully and withdraw, then sign a fault attestation
    ///         to slash an honest node (earning the challenger reward). Their keys left the aggregate with their
    ///         stake, so the live validator's stake is all there is.
    function test_attack_unbondedExValidatorsCannotSlash() public {
        address op = prepareQuorumFault();
        uint256 honestSk = 0xb0b;
        address honest = address(0xB0B);
        registerNode(honest, MIN_STAKE);
        (bytes memory pk, bytes memory pop) = (BlsKeys.publicKey(honestSk), BlsKeys.proofOfPossession(honestSk));
        vm.prank(honest);
        nodes.registerValidatorKey(pk, pop);
        address[3] memory vals = Batches16.validators();
        for (uint256 k; k < 3; ++k) {
            vm.prank(vals[k]);
            nodes.requestUnbond(MIN_STAKE);
        }
        vm.roll(block.number + EPOCH);
        for (uint256 k; k < 3; ++k) {
            vm.prank(vals[k]);
            nodes.withdrawUnbonded();
        }
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt();
        bytes memory exSig = faultSigned(7, settlement.receiptHash(w));
        address[] memory nonSigners = new address[](1);
        nonSigners[0] = honest;
        Settlement.Certificate memory c = Settlement.Certificate(block.number - 1, nonSigners, exSig);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InsufficientSignedStake.selector, 0, MIN_STAKE));
        settlement.challengeQuorumFault(op, w, route, sig, c, CLIENT);
        c.nonSigners = new address[](0); // claiming the honest validator signed
        vm.expectRevert(NodeRegistry.InvalidAggregateSignature.selector);
        settlement.challengeQuorumFault(op, w, route, sig, c, CLIENT);
        vm.assertEq(nodes.node(op).stake, MIN_STAKE, "nothing slashed");
    }

    function test_revert_challengeQuorumFault_certificate() public {
        address op = prepareQuorumFault();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert1of3 = faultCert(6, faultSigned(1, digest));
        Settlement.Certificate memory cert7of3 = faultCert(0, faultSigned(3, digest));
        Settlement.Certificate memory cert7of7 = faultCert(0, faultSigned(7, digest));
        Settlement.Certificate memory cert7asBatch = faultCert(0, signedAsBatch(digest));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InsufficientSignedStake.selector, MIN_STAKE, 3 * MIN_STAKE));
        settlement.challengeQuorumFault(op, w, route, sig, cert1of3, CLIENT);
        vm.expectRevert(NodeRegistry.InvalidAggregateSignature.selector); // claims 3 signers, 2 signed
        settlement.challengeQuorumFault(op, w, route, sig, cert7of3, CLIENT);
        vm.expectRevert(NodeRegistry.InvalidAggregateSignature.selector); // the same root signed as a batch
        settlement.challengeQuorumFault(op, w, route, sig, cert7asBatch, CLIENT);
        (,, bytes memory batchSig) = Batches16.get(1); // the committee's real certificate of batch 1
        vm.expectRevert(NodeRegistry.InvalidAggregateSignature.selector);
        settlement.challengeQuorumFault(op, w, route, sig, faultCert(0, batchSig), CLIENT);
        Settlement.Certificate memory c = faultCert(0, cert7of7.signature); // a copy to break
        c.referenceBlock = block.number;
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.ReferenceBlockNotPast.selector, block.number, block.number));
        settlement.challengeQuorumFault(op, w, route, sig, c, CLIENT);
        vm.assertEq(nodes.node(op).stake, MIN_STAKE, "nothing slashed yet");
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7, CLIENT);
        vm.assertLe(nodes.node(op).stake, MIN_STAKE * 9 / 10, "the valid certificate slashes");
    }

    function test_revert_challengeQuorumFault_receipt() public {
        address op = prepareQuorumFault();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert7of7 = faultCert(0, faultSigned(7, digest));
        Settlement.Certificate memory c = faultCert(0, cert7of7.signature); // a copy to break
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotOperatorsReceipt.selector, vm.addr(NODE_KEY)));
        settlement.challengeQuorumFault(address(0xBEEF), w, route, sig, c, CLIENT); // not 0xBEEF's signing key
        route[4] = bytes32(FAULT_BLOCK + 1);
        vm.expectRevert(Settlement.RouteMismatch.selector);
        settlement.challengeQuorumFault(op, w, route, sig, c, CLIENT);
        route[4] = bytes32(FAULT_BLOCK);
        vm.roll(FAULT_BLOCK + SLASH_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(Settlement.ChallengeWindowClosed.selector, FAULT_BLOCK + SLASH_WINDOW));
        settlement.challengeQuorumFault(op, w, route, sig, c, CLIENT);
        vm.roll(FAULT_BLOCK + SLASH_WINDOW); // the window's last block
        settlement.challengeQuorumFault(op, w, route, sig, c, CLIENT);
        vm.assertLe(nodes.node(op).stake, MIN_STAKE * 9 / 10, "slashed on the last block");
    }

    /// @dev The zk-tier twin of faultyReceipt (tier 1).
    function faultyZkReceipt() internal returns (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) {
        vm.roll(FAULT_BLOCK);
        (w, route, sig) = signedReceipt("fault req", "bad out");
        commit(settlement.receiptHash(w));
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

    /// @notice Attack: copy a pending challenge (public evidence) and claim the reward. Without an earlier
    ///         commitment for the copier's address it reverts, and copied as-is it pays the original challenger.
    function test_attack_copiedChallengePaysTheOriginalChallenger() public {
        address op = prepareQuorumFault();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt(); // CLIENT committed
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert = faultCert(0, faultSigned(7, digest));
        address copier = address(0xBAD);
        bytes32 theirs = settlement.challengeCommitment(digest, copier);
        vm.prank(copier);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotCommitted.selector, theirs));
        settlement.challengeQuorumFault(op, w, route, sig, cert, copier);
        vm.prank(copier);
        settlement.commitChallenge(theirs); // committing in the same block as the reveal does not help
        vm.prank(copier);
        vm.expectRevert(abi.encodeWithSelector(Settlement.NotCommitted.selector, theirs));
        settlement.challengeQuorumFault(op, w, route, sig, cert, copier);
        vm.prank(copier); // copied as-is: the reward goes to the committed beneficiary
        settlement.challengeQuorumFault(op, w, route, sig, cert, CLIENT);
        uint256 slashed = MIN_STAKE * params.get("slash_quorum_fault_bps") / 10_000;
        vm.assertEq(settlement.credits(CLIENT), slashed * params.get("challenger_reward_bps") / 10_000, "original paid");
        vm.assertEq(settlement.credits(copier), 0, "copier paid nothing");
    }

    /// @notice An operator cannot leave before a receipt's challenge window ends: unbonding (node_epoch_length)
    ///         outlasts slash_window (a ProtocolParams invariant), so the slash lands on its unbonding stake.
    function test_operatorCannotLeaveBeforeItsSlashWindowEnds() public {
        address op = prepareQuorumFault();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyReceipt();
        Settlement.Certificate memory cert = faultCert(0, faultSigned(7, settlement.receiptHash(w)));
        vm.prank(op);
        nodes.requestUnbond(MIN_STAKE); // runs the moment it signed the bad receipt
        vm.roll(FAULT_BLOCK + SLASH_WINDOW); // the challenge window's last block
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.StillUnbonding.selector, uint64(FAULT_BLOCK + 1 + EPOCH)));
        nodes.withdrawUnbonded();
        cert.referenceBlock = block.number - 1;
        settlement.challengeQuorumFault(op, w, route, sig, cert, CLIENT);
        uint256 slashed = MIN_STAKE * params.get("slash_quorum_fault_bps") / 10_000;
        vm.assertEq(nodes.node(op).unbonding, MIN_STAKE - slashed, "slashed from its unbonding stake");
    }

    function test_revert_challengeQuorumFault_afterZkChallenge() public {
        address op = prepareQuorumFault();
        acceptAnyZkProof();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyZkReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert7of7 = faultCert(0, faultSigned(7, digest));
        settlement.challengeZkOutput(op, w, route, sig, new bytes(256), 1, CLIENT);
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, digest));
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7, CLIENT);
    }

    function test_revert_challengeZkOutput_afterQuorumFault() public {
        address op = prepareQuorumFault();
        acceptAnyZkProof();
        (bytes32[17] memory w, bytes32[6] memory route, bytes memory sig) = faultyZkReceipt();
        bytes32 digest = settlement.receiptHash(w);
        Settlement.Certificate memory cert7of7 = faultCert(0, faultSigned(7, digest));
        settlement.challengeQuorumFault(op, w, route, sig, cert7of7, CLIENT);
        vm.assertLe(nodes.node(op).stake, MIN_STAKE * 9 / 10, "slashed by the quorum");
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadyChallenged.selector, digest));
        settlement.challengeZkOutput(op, w, route, sig, new bytes(256), 1, CLIENT);
    }

    function testFuzz_escrowRoundTrip(uint256 amount, uint256 back) public {
        amount = bound(amount, 1, 1_000_000 ether);
        back = bound(back, 1, amount);
        depositFor(CLIENT, amount);
        vm.prank(CLIENT);
        settlement.requestEscrowWithdrawal(back);
        vm.roll(block.number + EPOCH);
        vm.prank(CLIENT);
        settlement.withdrawEscrow();
        vm.assertEq(settlement.escrow(CLIENT), amount - back, "escrow");
        vm.assertEq(token.balanceOf(address(settlement)), amount - back, "held");
    }
}
