// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Deployed} from "./utils/Deployed.sol";
import {BlsKeys} from "./utils/BlsKeys.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {BatchEscrow} from "../src/BatchEscrow.sol";
import {BatchLedger} from "../src/BatchLedger.sol";
import {OptimisticSettlement} from "../src/OptimisticSettlement.sol";
import {IStakeRegistry} from "../src/interfaces/IStakeRegistry.sol";
import {BatchLeaves} from "../src/libraries/BatchLeaves.sol";
import {OptimisticBatches} from "./fixtures/OptimisticBatches.sol";

/// @notice A batch as the Python rules built it (OptimisticBatches).
struct Fx {
    BatchLedger.Header h;
    BatchLeaves.Leaf[] leaves;
    BatchLeaves.Account[] accounts;
    bytes32[][] leafProofs;
    bytes32[][] accountProofs;
}

/// @notice Optimistic batches written as the attacks they stop, next to the honest path. The batches come from
///         ax0n.spec.batch (contracts/script/optimistic_fixtures.py), so every root, proof and predicate checked here
///         also checks that the Python rules and BatchLeaves agree.
contract OptimisticSettlementTest is Deployed {
    uint256 internal constant R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;
    address internal constant CHALLENGER = address(0xC4A1);
    uint256 internal constant ESCROW = 1 ether;
    OptimisticSettlement internal opt;
    address[3] internal validators = [address(0xB1), address(0xB2), address(0xB3)];
    uint256[3] internal sks = [uint256(0xb1b1), 0xb2b2, 0xb3b3];

    function setUp() public override {
        super.setUp();
        nodes = new NodeRegistry(token, params);
        opt = new OptimisticSettlement(
            token, IStakeRegistry(address(nodes)), params, TREASURY, OptimisticBatches.REQUEST_DOMAIN
        );
        nodes.setSettlement(address(opt));
        for (uint256 i; i < 3; ++i) {
            registerNode(validators[i], MIN_STAKE);
            (bytes memory pk, bytes memory pop) = (BlsKeys.publicKey(sks[i]), BlsKeys.proofOfPossession(sks[i]));
            vm.prank(validators[i]);
            nodes.registerValidatorKey(pk, pop);
        }
        vm.roll(block.number + 1);
        (Fx memory f,) = load(OptimisticBatches.honest);
        for (uint256 i; i < f.accounts.length; ++i) {
            if (f.accounts[i].debit != 0) escrowFor(f.accounts[i].account, ESCROW);
        }
    }

    function load(function() internal pure returns (bytes memory, uint256) fixture)
        internal
        pure
        returns (Fx memory f, uint256 target)
    {
        bytes memory data;
        (data, target) = fixture();
        (f.h, f.leaves, f.accounts, f.leafProofs, f.accountProofs) = abi.decode(
            data, (BatchLedger.Header, BatchLeaves.Leaf[], BatchLeaves.Account[], bytes32[][], bytes32[][])
        );
    }

    function escrowFor(address client, uint256 amount) internal {
        fund(client, amount);
        vm.startPrank(client);
        token.approve(address(opt), amount);
        opt.deposit(amount);
        vm.stopPrank();
    }

    function certFor(BatchLedger.Header memory h) internal view returns (BatchLedger.Certificate memory c) {
        uint256 sum;
        for (uint256 i; i < 3; ++i) sum = addmod(sum, sks[i], R);
        bytes32 root = opt.batchSigningRoot(h.batchId, opt.headerHash(h));
        c.referenceBlock = block.number - 1;
        c.signature = BlsKeys.sign(sum, abi.encodePacked(root));
    }

    function submit(Fx memory f) internal {
        opt.submitBatch(f.h, certFor(f.h));
    }

    /// @dev Commit CHALLENGER to evidence `item` of batch `batchId`, one block before revealing.
    function commit(uint64 batchId, bytes32 item) internal {
        opt.commitChallenge(opt.challengeCommitment(opt.challengeKey(batchId, item), CHALLENGER));
        vm.roll(block.number + 1);
    }

    function leafHash(BatchLeaves.Leaf memory l) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(l))));
    }

    /// @dev The entries of `f` with a non-zero debit (`debits`) or credit, and their proofs.
    function entries(Fx memory f, bool debits)
        internal
        pure
        returns (BatchLeaves.Account[] memory list, bytes32[][] memory proofs)
    {
        uint256 n;
        for (uint256 i; i < f.accounts.length; ++i) {
            if ((debits ? f.accounts[i].debit : f.accounts[i].credit) != 0) ++n;
        }
        (list, proofs) = (new BatchLeaves.Account[](n), new bytes32[][](n));
        n = 0;
        for (uint256 i; i < f.accounts.length; ++i) {
            if ((debits ? f.accounts[i].debit : f.accounts[i].credit) != 0) {
                (list[n], proofs[n]) = (f.accounts[i], f.accountProofs[i]);
                ++n;
            }
        }
    }

    function one(Fx memory f, uint256 slot)
        internal
        pure
        returns (BatchLeaves.Account[] memory list, bytes32[][] memory proofs)
    {
        (list, proofs) = (new BatchLeaves.Account[](1), new bytes32[][](1));
        (list[0], proofs[0]) = (f.accounts[slot], f.accountProofs[slot]);
    }

    function applyAll(Fx memory f) internal {
        (BatchLeaves.Account[] memory list, bytes32[][] memory proofs) = entries(f, true);
        opt.applyDebits(f.h.batchId, list, proofs);
    }

    function claimAll(Fx memory f) internal {
        (BatchLeaves.Account[] memory list, bytes32[][] memory proofs) = entries(f, false);
        opt.claimCredits(f.h.batchId, list, proofs);
        opt.collectFees(f.h.batchId);
    }

    function pastWindow(uint64 batchId) internal {
        vm.roll(opt.challengeDeadline(batchId) + 1);
    }

    /// @notice Honest path: the Python-built batch settles, no challenge of any of its leaves or entries succeeds,
    ///         debits land, credits pay after the window, and every token is accounted for.
    function test_honestBatchSettlesPaysAndResistsChallenges() public {
        (Fx memory f,) = load(OptimisticBatches.honest);
        submit(f);
        vm.roll(block.number + 1);
        for (uint256 i; i < f.leaves.length; ++i) {
            vm.expectRevert(OptimisticSettlement.NotFraud.selector);
            opt.challengeLeaf(1, f.leaves[i], f.leafProofs[i], CHALLENGER);
            for (uint256 s; s < 2; ++s) {
                BatchLeaves.Side side = BatchLeaves.Side(s);
                uint32 slot = s == 0 ? f.leaves[i].clientSlot : f.leaves[i].operatorSlot;
                vm.expectRevert(OptimisticSettlement.NotFraud.selector);
                opt.challengeEntry(1, side, f.leaves[i], f.leafProofs[i], f.accounts[slot], f.accountProofs[slot], CHALLENGER);
            }
            if (i > 0) {
                vm.expectRevert(OptimisticSettlement.NotFraud.selector);
                opt.challengeLeafPair(1, f.leaves[i], f.leafProofs[i], f.leaves[i - 1], f.leafProofs[i - 1], CHALLENGER);
            }
        }
        for (uint256 i; i < f.accounts.length; ++i) {
            vm.expectRevert(OptimisticSettlement.NotFraud.selector);
            opt.challengeAccount(1, f.accounts[i], f.accountProofs[i], CHALLENGER);
        }
        applyAll(f);
        (BatchLeaves.Account[] memory first, bytes32[][] memory firstProof) = one(f, 0);
        vm.expectRevert(abi.encodeWithSelector(BatchLedger.NotFinal.selector, 1, opt.challengeDeadline(1) + 1));
        opt.claimCredits(1, first, firstProof);
        pastWindow(1);
        claimAll(f);
        (BatchLeaves.Account[] memory credited,) = entries(f, false);
        (first, firstProof) = one(f, credited[0].slot);
        vm.expectRevert(abi.encodeWithSelector(BatchLedger.AlreadyClaimed.selector, 1, credited[0].slot));
        opt.claimCredits(1, first, firstProof);
        uint256 operators;
        for (uint256 i; i < f.accounts.length; ++i) {
            vm.assertEq(opt.credits(f.accounts[i].account), f.accounts[i].credit, "operator paid its share");
            operators += f.accounts[i].credit;
        }
        uint256 validatorShare = uint256(f.h.feeTotal) * 1_200 / 10_000;
        vm.assertEq(opt.validatorFees(1), validatorShare, "validator share held");
        vm.assertEq(opt.credits(TREASURY), f.h.feeTotal - operators - validatorShare, "treasury gets the rest");
        for (uint256 i; i < 3; ++i) {
            vm.prank(validators[i]);
            opt.claimValidatorFees(1, new address[](0));
        }
        vm.assertEq(opt.totalEscrow(), 3 * ESCROW - f.h.feeTotal, "escrow debited by the fee total");
        vm.assertLe(opt.totalEscrow() + opt.totalCredits(), token.balanceOf(address(opt)), "books covered");
        vm.assertLe(token.balanceOf(address(opt)) - opt.totalEscrow() - opt.totalCredits(), 2, "only rounding dust left");
    }

    /// @notice Attack: the settler debits a client with a leaf the client never signed (signed by the settler's
    ///         own key). Someone applies that debit early; one challenge from the leaf alone voids the batch, the
    ///         client gets its escrow back, nobody is paid from it, and every certificate signer is slashed.
    function test_attack_unauthorizedDebitRefundedAndSignersSlashed() public {
        (Fx memory honest,) = load(OptimisticBatches.honest);
        (Fx memory f, uint256 target) = load(OptimisticBatches.unauthorized);
        submit(honest);
        submit(f);
        address victim = f.leaves[target].client;
        applyAll(honest);
        applyAll(f);
        BatchLeaves.Account memory entry = f.accounts[f.leaves[target].clientSlot];
        uint256 before = opt.escrow(victim);
        uint256 taken = entry.debit - opt.shortfall(2, victim);
        vm.assertEq(taken, entry.debit, "the forged debit was applied in full");
        commit(2, leafHash(f.leaves[target]));
        vm.expectRevert(); // a copy without a commitment pays nothing
        vm.prank(address(0xC0B1));
        opt.challengeLeaf(2, f.leaves[target], f.leafProofs[target], address(0xC0B1));
        opt.challengeLeaf(2, f.leaves[target], f.leafProofs[target], CHALLENGER);
        vm.assertTrue(opt.isVoided(2), "batch voided");
        bytes32[] memory entryProof = f.accountProofs[entry.slot];
        opt.refundDebit(2, entry, entryProof);
        vm.assertEq(opt.escrow(victim), before + taken, "victim whole");
        vm.expectRevert(BatchEscrow.NothingToWithdraw.selector); // once
        opt.refundDebit(2, entry, entryProof);
        pastWindow(2);
        (BatchLeaves.Account[] memory first, bytes32[][] memory firstProof) = one(f, 0);
        vm.expectRevert(abi.encodeWithSelector(BatchLedger.BatchVoided.selector, 2));
        opt.claimCredits(2, first, firstProof);
        opt.slashSigners(2, new address[](0), 0, nodes.validatorCount());
        for (uint256 i; i < 3; ++i) {
            vm.assertEq(nodes.node(validators[i]).stake, 0, "signer slashed (slash_unauthorized_debit_bps = 100 %)");
        }
        vm.assertEq(opt.credits(CHALLENGER), 3 * MIN_STAKE / 2, "challenger rewarded half");
        pastWindow(1);
        claimAll(honest); // the honest batch before it still pays
    }

    /// @notice Attack: a client's entry understates its debit (a self-consistent lie in every running sum). The
    ///         client's last leaf and its entry disagree: one challenge voids the batch.
    function test_attack_wrongTotalChallenged() public {
        (Fx memory honest,) = load(OptimisticBatches.honest);
        (Fx memory f, uint256 target) = load(OptimisticBatches.wrongTotal);
        submit(honest);
        submit(f);
        BatchLeaves.Leaf memory l = f.leaves[target];
        commit(2, leafHash(l));
        vm.expectRevert(OptimisticSettlement.NotFraud.selector);
        opt.challengeAccount(2, f.accounts[l.clientSlot], f.accountProofs[l.clientSlot], CHALLENGER);
        opt.challengeEntry(
            2, BatchLeaves.Side.Debit, l, f.leafProofs[target], f.accounts[l.clientSlot], f.accountProofs[l.clientSlot], CHALLENGER
        );
        vm.assertTrue(opt.isVoided(2), "voided");
    }

    /// @notice Attack: a leaf charges above the fee cap its client signed; the request's fields prove it.
    function test_attack_overchargeChallenged() public {
        (Fx memory f, uint256 target) = load(OptimisticBatches.overcharge);
        (Fx memory honest,) = load(OptimisticBatches.honest);
        submit(honest);
        submit(f);
        BatchLeaves.Request memory r = abi.decode(OptimisticBatches.overchargeRequest(), (BatchLeaves.Request));
        commit(2, leafHash(f.leaves[target]));
        vm.expectRevert(OptimisticSettlement.NotFraud.selector); // the leaf alone looks fine: signed, chained
        opt.challengeLeaf(2, f.leaves[target], f.leafProofs[target], CHALLENGER);
        opt.challengeOvercharge(2, f.leaves[target], f.leafProofs[target], r, CHALLENGER);
        vm.assertTrue(opt.isVoided(2), "voided");
    }

    /// @notice Attack: a later batch debits a request an earlier batch already settled.
    function test_attack_replayAcrossBatchesChallenged() public {
        (Fx memory honest,) = load(OptimisticBatches.honest);
        (Fx memory f, uint256 target) = load(OptimisticBatches.replay);
        submit(honest);
        submit(f);
        commit(2, leafHash(f.leaves[target]));
        vm.expectRevert(OptimisticSettlement.NotFraud.selector); // not against the earlier batch itself
        opt.challengeReplay(1, honest.leaves[0], honest.leafProofs[0], 2, f.leaves[target], f.leafProofs[target], CHALLENGER);
        opt.challengeReplay(2, f.leaves[target], f.leafProofs[target], 1, honest.leaves[0], honest.leafProofs[0], CHALLENGER);
        vm.assertTrue(opt.isVoided(2), "voided");
        vm.assertFalse(opt.isVoided(1), "the original stands");
    }

    /// @notice No per-window cap: two batches settle in one block, and both pay after their windows.
    function test_twoBatchesInOneWindowBothSettle() public {
        (Fx memory a,) = load(OptimisticBatches.honest);
        (Fx memory b,) = load(OptimisticBatches.honest2);
        submit(a);
        submit(b);
        vm.assertEq(opt.lastBatchId(), 2, "both settled");
        applyAll(a);
        applyAll(b);
        pastWindow(2);
        claimAll(a);
        claimAll(b);
        vm.assertEq(opt.totalEscrow(), 3 * ESCROW - a.h.feeTotal - b.h.feeTotal, "both debited");
    }

    /// @notice Attack: a client is served, asks for its escrow back and waits out the lock while the batch with
    ///         its debit settles. The withdrawal cannot complete until that debit is applied, so the node is paid.
    function test_attack_withdrawBeforeDebitLeavesNodePaid() public {
        (Fx memory f,) = load(OptimisticBatches.honest);
        BatchLeaves.Account memory c = f.accounts[f.leaves[0].clientSlot];
        vm.prank(c.account);
        opt.requestEscrowWithdrawal(ESCROW);
        submit(f);
        vm.roll(block.number + opt.escrowLockBlocks());
        vm.expectRevert(abi.encodeWithSelector(BatchEscrow.DebitsPending.selector, c.account, 0, 1));
        vm.prank(c.account);
        opt.withdrawEscrow();
        applyAll(f);
        vm.prank(c.account);
        vm.assertEq(opt.withdrawEscrow(), ESCROW - c.debit, "only what the debit left");
        pastWindow(1);
        claimAll(f);
        vm.assertEq(opt.credits(f.leaves[0].operator), f.accounts[f.leaves[0].operatorSlot].credit, "node paid");
    }

    /// @notice A client absent from a batch proves it with the neighbouring entries and moves on.
    function test_absentClientSkipsWithNeighbours() public {
        (Fx memory f,) = load(OptimisticBatches.honest);
        submit(f);
        address outsider = address(1); // sorts before every entry
        BatchLeaves.Account[] memory around = new BatchLeaves.Account[](1);
        bytes32[][] memory proofs = new bytes32[][](1);
        (around[0], proofs[0]) = (f.accounts[0], f.accountProofs[0]);
        opt.skipDebit(1, outsider, around, proofs);
        vm.assertEq(opt.debitedThrough(outsider), 1, "skipped");
        address member = f.accounts[1].account;
        (around[0], proofs[0]) = (f.accounts[1], f.accountProofs[1]);
        vm.expectRevert(abi.encodeWithSelector(BatchLedger.NotAbsent.selector, member));
        opt.skipDebit(1, member, around, proofs);
    }

    /// @notice The challenge window counts from the batch's settlement block, however old its certificate's
    ///         reference block or its receipts are; it closes slash_window blocks later.
    function test_challengeWindowCountsFromSettlementBlock() public {
        (Fx memory honest,) = load(OptimisticBatches.honest);
        (Fx memory f, uint256 target) = load(OptimisticBatches.unauthorized);
        submit(honest);
        vm.roll(block.number + 10 * SLASH_WINDOW);
        submit(f);
        vm.assertEq(opt.challengeDeadline(2), block.number + SLASH_WINDOW, "deadline from settlement");
        commit(2, leafHash(f.leaves[target]));
        vm.roll(opt.challengeDeadline(2) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(OptimisticSettlement.ChallengeWindowClosed.selector, opt.challengeDeadline(2))
        );
        opt.challengeLeaf(2, f.leaves[target], f.leafProofs[target], CHALLENGER);
    }

    /// @notice Attack: a certificate whose reference block is so old that its signers could unbond and leave
    ///         before the challenge window closes (escaping the slash) is refused.
    function test_attack_staleCertificateRefused() public {
        (Fx memory f,) = load(OptimisticBatches.honest);
        BatchLedger.Certificate memory c = certFor(f.h);
        vm.roll(block.number + EPOCH - SLASH_WINDOW);
        uint256 deadline = block.number + SLASH_WINDOW;
        vm.expectRevert(abi.encodeWithSelector(BatchLedger.StaleCertificate.selector, c.referenceBlock, deadline));
        opt.submitBatch(f.h, c);
        vm.roll(block.number - 1);
        opt.submitBatch(f.h, c);
    }

    /// @notice A client that left before its receipts settled (the settler was late) leaves a shortfall: the
    ///         batch takes what is there and scales every payout by funded / feeTotal; nothing is paid twice.
    function test_lateBatchShortfallScalesPayouts() public {
        (Fx memory f,) = load(OptimisticBatches.honest);
        BatchLeaves.Account memory c = f.accounts[f.leaves[0].clientSlot];
        vm.prank(c.account);
        opt.requestEscrowWithdrawal(ESCROW);
        vm.roll(block.number + opt.escrowLockBlocks());
        vm.prank(c.account);
        opt.withdrawEscrow();
        submit(f);
        applyAll(f);
        vm.assertEq(opt.shortfall(1, c.account), c.debit, "nothing left to take");
        pastWindow(1);
        claimAll(f);
        uint256 funded = f.h.feeTotal - c.debit;
        (BatchLeaves.Account[] memory credited,) = entries(f, false);
        for (uint256 i; i < credited.length; ++i) {
            vm.assertEq(opt.credits(credited[i].account), credited[i].credit * funded / f.h.feeTotal, "scaled");
        }
        vm.assertLe(opt.totalEscrow() + opt.totalCredits(), token.balanceOf(address(opt)), "books covered");
    }

    /// @notice Conservation under any escrow shortfall: whatever each client could pay, after every debit, credit,
    ///         fee split and validator claim, the contract holds at least escrow + credits + unclaimed validator
    ///         fees, and nothing but rounding dust besides.
    function testFuzz_booksBalanceUnderShortfalls(uint256[3] memory taken) public {
        (Fx memory f,) = load(OptimisticBatches.honest);
        (BatchLeaves.Account[] memory debtors,) = entries(f, true);
        for (uint256 i; i < debtors.length; ++i) {
            address c = debtors[i].account;
            uint256 leave = bound(taken[i % 3], 0, debtors[i].debit); // what stays in escrow for the batch
            vm.prank(c);
            opt.requestEscrowWithdrawal(ESCROW - leave);
        }
        vm.roll(block.number + opt.escrowLockBlocks());
        for (uint256 i; i < debtors.length; ++i) {
            vm.prank(debtors[i].account);
            opt.withdrawEscrow();
        }
        submit(f);
        applyAll(f);
        pastWindow(1);
        claimAll(f);
        uint256 claimed;
        for (uint256 i; i < 3; ++i) {
            vm.prank(validators[i]);
            claimed += opt.claimValidatorFees(1, new address[](0));
        }
        uint256 held = opt.totalEscrow() + opt.totalCredits() + opt.validatorFees(1) - claimed;
        uint256 balance = token.balanceOf(address(opt));
        vm.assertLe(held, balance, "every balance is backed");
        vm.assertLe(balance - held, f.accounts.length + 3, "only rounding dust is unassigned");
    }

    /// @notice A batch built under another operator share is refused at submission, never voided later (which
    ///         would slash signers who certified it honestly before governance changed the share).
    function test_batchUnderAnOldShareIsRefused() public {
        (Fx memory f,) = load(OptimisticBatches.honest);
        BatchLedger.Certificate memory c = certFor(f.h);
        params.set("operator_fee_share_bps", 7_000);
        vm.expectRevert(abi.encodeWithSelector(BatchLedger.SharesChanged.selector, 7_800, 7_000));
        opt.submitBatch(f.h, c);
    }
}
