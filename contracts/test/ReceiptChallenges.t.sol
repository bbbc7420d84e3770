// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Deployed} from "./utils/Deployed.sol";
import {BlsKeys} from "./utils/BlsKeys.sol";
import {KeyProofs} from "./utils/KeyProofs.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {BatchLedger} from "../src/BatchLedger.sol";
import {OptimisticSettlement} from "../src/OptimisticSettlement.sol";
import {ReceiptChallenges} from "../src/ReceiptChallenges.sol";
import {ISettledBatches} from "../src/interfaces/ISettledBatches.sol";
import {IStakeRegistry} from "../src/interfaces/IStakeRegistry.sol";
import {IZkVerifier} from "../src/interfaces/IZkVerifier.sol";
import {BatchLeaves} from "../src/libraries/BatchLeaves.sol";
import {Batches16} from "./fixtures/Batches16.sol";

/// @notice Receipt challenges against optimistic batches, written as attacks: an executor that signed two receipts
///         for one request, a wrong zk output or an INVALID-certified receipt is slashed when a settled batch paid
///         the receipt, within slash_window blocks of that batch's settlement block (not of a block it chose).
contract ReceiptChallengesTest is Deployed {
    uint256 internal constant R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;
    address internal constant DOMAIN = address(0x5e77100000000000000000000000000000000001);
    address internal constant CHALLENGER = address(0xC4A1);
    address internal constant OP = address(0x0FE);
    uint256 internal constant NODE_KEY = 0xA11CE;
    uint256 internal constant CLIENT_KEY = 0xC11E;
    uint96 internal constant FEE = 1e15;
    OptimisticSettlement internal opt;
    ReceiptChallenges internal rc;
    address[3] internal validators = [address(0xB1), address(0xB2), address(0xB3)];
    uint256[3] internal sks = [uint256(0xb1b1), 0xb2b2, 0xb3b3];

    function setUp() public override {
        super.setUp();
        nodes = new NodeRegistry(token, params);
        opt = new OptimisticSettlement(token, IStakeRegistry(address(nodes)), params, TREASURY, DOMAIN);
        rc = new ReceiptChallenges(
            ISettledBatches(address(opt)), IStakeRegistry(address(nodes)), params, acceptAnyZkProof(), DOMAIN
        );
        opt.setChallenges(address(rc));
        nodes.setSettlement(address(opt));
        for (uint256 i; i < 3; ++i) {
            registerNode(validators[i], MIN_STAKE);
            (bytes memory pk, bytes memory pop) = (BlsKeys.publicKey(sks[i]), BlsKeys.proofOfPossession(sks[i]));
            vm.prank(validators[i]);
            nodes.registerValidatorKey(pk, pop);
        }
        fund(OP, MIN_STAKE);
        vm.startPrank(OP);
        token.approve(address(nodes), MIN_STAKE);
        nodes.register(MIN_STAKE, new bytes32[](0), "grpc://n", vm.addr(NODE_KEY), "default", KeyProofs.proofWith(nodes, NODE_KEY, OP));
        vm.stopPrank();
        vm.roll(block.number + 1);
    }

    /// @dev A zk verifier that accepts any proof (runtime: return 1), so the zk path reaches its slash here; the
    ///      real MlpVerifier is exercised with real proofs by tests/chain/test_challenge.py against Settlement.
    function acceptAnyZkProof() internal returns (IZkVerifier v) {
        bytes memory init = hex"600a600c600039600a6000f3600160005260206000f3";
        assembly ("memory-safe") {
            v := create(0, add(init, 0x20), mload(init))
        }
    }

    function receipt(bytes32 requestId, uint256 outputHash, uint256 tier)
        internal
        view
        returns (ReceiptChallenges.Receipt memory r, bytes memory sig)
    {
        r.typeHash = rc.RECEIPT_TYPEHASH();
        (r.requestId, r.outputHash, r.tier) = (requestId, outputHash, tier);
        (r.modelCommitment, r.inputHash) = (bytes32(uint256(7)), bytes32(uint256(8)));
        (r.nodeId, r.fee, r.client, r.feeCap, r.chainId) = (vm.addr(NODE_KEY), FEE, vm.addr(CLIENT_KEY), FEE, block.chainid);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(NODE_KEY, rc.receiptHash(r));
        sig = abi.encodePacked(rr, s, v);
    }

    /// @dev Settle a one-receipt batch paying OP for `r` (the client's request signed by CLIENT_KEY); returns the
    ///      settled receipt as challenges name it.
    function settle(ReceiptChallenges.Receipt memory r, bytes memory sig)
        internal
        returns (ReceiptChallenges.Settled memory s)
    {
        s.leaf = leafFor(r);
        s.batchId = submitOne(s.leaf);
        (s.path, s.receipt, s.signature) = (new bytes32[](0), r, sig);
    }

    function leafFor(ReceiptChallenges.Receipt memory r) internal view returns (BatchLeaves.Leaf memory l) {
        (l.client, l.operator, l.fee, l.receiptHash) = (r.client, OP, FEE, rc.receiptHash(r));
        l.requestHash = keccak256(abi.encode("request", r.requestId));
        (l.sigV, l.sigR, l.sigS) = vm.sign(CLIENT_KEY, BatchLeaves.requestDigest(l.requestHash, DOMAIN));
        (l.clientSlot, l.operatorSlot) = l.client < OP ? (uint32(0), uint32(1)) : (uint32(1), uint32(0));
        (l.clientCum, l.operatorCum) = (FEE, uint128(uint256(FEE) * 7_800 / 10_000));
    }

    function accountRoot(BatchLeaves.Leaf memory l) internal pure returns (bytes32) {
        BatchLeaves.Account memory c = BatchLeaves.Account(l.clientSlot, l.client, FEE, 0, 1, 0, 0, 0);
        BatchLeaves.Account memory o = BatchLeaves.Account(l.operatorSlot, OP, 0, l.operatorCum, 0, 1, 0, 0);
        (BatchLeaves.Account memory first, BatchLeaves.Account memory second) = l.clientSlot == 0 ? (c, o) : (o, c);
        (first.debitCum, first.creditCum) = (first.debit, first.credit);
        (second.debitCum, second.creditCum) = (FEE, l.operatorCum);
        bytes32 a = keccak256(bytes.concat(keccak256(abi.encode(first))));
        bytes32 b = keccak256(bytes.concat(keccak256(abi.encode(second))));
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    function submitOne(BatchLeaves.Leaf memory l) internal returns (uint64) {
        BatchLedger.Header memory h = BatchLedger.Header(
            opt.lastBatchId() + 1, keccak256(bytes.concat(keccak256(abi.encode(l)))), accountRoot(l), 1, 2, FEE,
            l.operatorCum, 7_800
        );
        uint256 sum;
        for (uint256 i; i < 3; ++i) sum = addmod(sum, sks[i], R);
        BatchLedger.Certificate memory cert;
        cert.referenceBlock = block.number - 1;
        cert.signature = BlsKeys.sign(sum, abi.encodePacked(opt.batchSigningRoot(h.batchId, opt.headerHash(h))));
        opt.submitBatch(h, cert);
        return h.batchId;
    }

    function commit(bytes32 key, address beneficiary) internal {
        rc.commitChallenge(rc.challengeCommitment(key, beneficiary));
        vm.roll(block.number + 1);
    }

    /// @notice Attack: an executor signs two receipts for one request. Once a batch has paid one, the other
    ///         slashes it, until slash_window blocks after that batch's settlement block — however old the route.
    function test_attack_equivocationSlashedWithinTheSettledBatchsWindow() public {
        (ReceiptChallenges.Receipt memory a, bytes memory sigA) = receipt("req", 1, 2);
        (ReceiptChallenges.Receipt memory b, bytes memory sigB) = receipt("req", 2, 2);
        vm.roll(block.number + 10 * SLASH_WINDOW); // settled long after it was served
        ReceiptChallenges.Settled memory s = settle(a, sigA);
        bytes32 key = keccak256(abi.encode(OP, bytes32("req")));
        commit(key, CHALLENGER);
        vm.expectRevert(abi.encodeWithSelector(ReceiptChallenges.NotCommitted.selector, rc.challengeCommitment(key, address(0xC0B1))));
        rc.challengeEquivocation(s, b, sigB, address(0xC0B1)); // a copier gains nothing
        vm.expectRevert(ReceiptChallenges.NotEquivocation.selector);
        rc.challengeEquivocation(s, a, sigA, CHALLENGER); // the same receipt twice
        rc.challengeEquivocation(s, b, sigB, CHALLENGER);
        vm.assertEq(nodes.node(OP).stake, 0, "slashed (slash_equivocation_bps = 100 %)");
        vm.assertEq(opt.credits(CHALLENGER), MIN_STAKE / 2, "challenger rewarded");
        vm.assertEq(opt.credits(TREASURY), MIN_STAKE / 2, "treasury gets the rest");
        vm.expectRevert(abi.encodeWithSelector(ReceiptChallenges.AlreadyChallenged.selector, key));
        rc.challengeEquivocation(s, b, sigB, CHALLENGER);
    }

    /// @notice The window closes slash_window blocks after the settlement block.
    function test_receiptWindowClosesFromSettlement() public {
        (ReceiptChallenges.Receipt memory a, bytes memory sigA) = receipt("req", 1, 2);
        (ReceiptChallenges.Receipt memory b, bytes memory sigB) = receipt("req", 2, 2);
        ReceiptChallenges.Settled memory s = settle(a, sigA);
        uint256 deadline = block.number + SLASH_WINDOW;
        commit(keccak256(abi.encode(OP, bytes32("req"))), CHALLENGER);
        vm.roll(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ReceiptChallenges.ChallengeWindowClosed.selector, deadline));
        rc.challengeEquivocation(s, b, sigB, CHALLENGER);
    }

    /// @notice A receipt no settled batch paid cannot be challenged through a batch (its leaf is not there).
    function test_revert_unsettledReceipt() public {
        (ReceiptChallenges.Receipt memory a, bytes memory sigA) = receipt("req", 1, 2);
        (ReceiptChallenges.Receipt memory other, bytes memory sigO) = receipt("other", 1, 2);
        ReceiptChallenges.Settled memory s = settle(a, sigA);
        (s.receipt, s.signature) = (other, sigO);
        vm.expectRevert(abi.encodeWithSelector(ReceiptChallenges.NotSettled.selector, s.batchId));
        rc.challengeQuorumFault(s, ReceiptChallenges.Certificate(0, new address[](0), ""), CHALLENGER);
    }

    /// @notice A settled receipt the validator stake certified INVALID slashes its executor slash_quorum_fault_bps.
    function test_quorumFaultSlashes() public {
        (ReceiptChallenges.Receipt memory a, bytes memory sigA) = receipt("req", 1, 2);
        ReceiptChallenges.Settled memory s = settle(a, sigA);
        bytes32 digest = rc.receiptHash(a);
        commit(digest, CHALLENGER);
        uint256 sum;
        for (uint256 i; i < 3; ++i) sum = addmod(sum, sks[i], R);
        ReceiptChallenges.Certificate memory cert = ReceiptChallenges.Certificate(
            block.number - 1, new address[](0), BlsKeys.sign(sum, abi.encodePacked(rc.faultSigningRoot(digest)))
        );
        rc.challengeQuorumFault(s, cert, CHALLENGER);
        vm.assertEq(nodes.node(OP).stake, MIN_STAKE * 9 / 10, "slashed 10 %");
    }

    /// @notice A zk-tier receipt whose output a proof contradicts (verifier stubbed here, see acceptAnyZkProof).
    function test_zkOutputSlashes() public {
        (ReceiptChallenges.Receipt memory a, bytes memory sigA) = receipt("req", 1, 1);
        ReceiptChallenges.Settled memory s = settle(a, sigA);
        commit(rc.receiptHash(a), CHALLENGER);
        vm.expectRevert(ReceiptChallenges.OutputNotDisputed.selector);
        rc.challengeZkOutput(s, new bytes(256), 1, CHALLENGER);
        rc.challengeZkOutput(s, new bytes(256), 2, CHALLENGER);
        vm.assertEq(nodes.node(OP).stake, MIN_STAKE / 2, "slashed 50 %");
    }

    /// @notice Only the bound challenge contract slashes through the ledger.
    function test_revert_onlyChallengesSlash() public {
        vm.expectRevert(OptimisticSettlement.OnlyChallenges.selector);
        opt.slashOperator(OP, MIN_STAKE, CHALLENGER);
        vm.expectRevert(OptimisticSettlement.ChallengesSet.selector);
        opt.setChallenges(address(this));
    }

    /// @notice The typed receipt hashes to the digest Settlement computes from the same 17 words (which
    ///         Settlement.t.sol checks against ax0n.spec.receipt.receipt_hash).
    function test_typedReceiptHashIsSettlements() public {
        ReceiptChallenges same = new ReceiptChallenges(
            ISettledBatches(address(opt)), IStakeRegistry(address(nodes)), params, IZkVerifier(address(0)), address(settlement)
        );
        bytes32[17] memory w = Batches16.receiptWords();
        ReceiptChallenges.Receipt memory r = abi.decode(abi.encode(w), (ReceiptChallenges.Receipt));
        vm.assertEq(same.receiptHash(r), settlement.receiptHash(w), "same digest");
        vm.assertEq(r.typeHash, same.RECEIPT_TYPEHASH(), "same type");
    }
}
