// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {KeyProofs} from "./utils/KeyProofs.sol";
import {BlsKeys} from "./utils/BlsKeys.sol";
import {BLS} from "../src/BLS.sol";

import {Test} from "./utils/Test.sol";
import {Deployed, Fixtures} from "./utils/Deployed.sol";
import {Ax0nToken} from "../src/Ax0nToken.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {ProtocolParams} from "../src/ProtocolParams.sol";
import {Settlement} from "../src/Settlement.sol";
import {Batches16} from "./fixtures/Batches16.sol";

/// @notice Drives Settlement with deposits, escrow withdrawals, real-proof batch submissions (fixtures),
///         replays of settled batches and credit withdrawals; keeps what each account should have been paid.
contract SettlementHandler is Test, Fixtures {
    Settlement internal immutable settlement;
    Ax0nToken internal immutable token;
    address internal immutable treasury;

    uint256 public settledCount;
    uint256 public doubleSettled;
    uint256 public ghostFees;
    uint256 public ghostDebited;
    mapping(address account => uint256) public ghostOwed;
    mapping(address account => uint256) public withdrawn;

    constructor(Settlement settlement_, Ax0nToken token_, address treasury_) {
        settlement = settlement_;
        token = token_;
        treasury = treasury_;
    }

    function accounts() public view returns (address[6] memory) {
        return [
            Batches16.operators()[0], Batches16.operators()[1], Batches16.validators()[0],
            Batches16.validators()[1], Batches16.validators()[2], treasury
        ];
    }

    function deposit(uint256 who, uint256 amount) external {
        address client = Batches16.clients()[who % 3];
        amount = bound(amount, 1, 100 ether);
        vm.startPrank(client);
        token.approve(address(settlement), amount);
        settlement.deposit(amount);
        vm.stopPrank();
    }

    function requestEscrowWithdrawal(uint256 who, uint256 amount) external {
        address client = Batches16.clients()[who % 3];
        uint256 available = settlement.escrow(client);
        if (available == 0) return;
        vm.prank(client);
        settlement.requestEscrowWithdrawal(bound(amount, 1, available));
    }

    function withdrawEscrow(uint256 who) external {
        address client = Batches16.clients()[who % 3];
        (uint256 amount, uint64 availableAt) = settlement.escrowWithdrawals(client);
        if (amount == 0 || settlement.escrow(client) == 0) return;
        if (block.number < availableAt) vm.roll(availableAt);
        vm.prank(client);
        settlement.withdrawEscrow();
    }

    function submitNext() external {
        uint256 next = settledCount + 1;
        if (next > Batches16.COUNT) return;
        vm.roll(block.number + 5);
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(next);
        try settlement.submitBatch(b, proof, certFor(b)) {
            settledCount = next;
            ghostFees += b.feeTotal;
            for (uint256 k; k < 16; ++k) {
                ghostDebited += b.clientAmounts[k];
                ghostOwed[address(uint160(b.operators[k]))] += b.operatorAmounts[k];
            }
            address[3] memory vals = Batches16.validators(); // equal stake: each claims ⌊validatorTotal / 3⌋
            for (uint256 k; k < 3; ++k) {
                vm.prank(vals[k]);
                ghostOwed[vals[k]] += settlement.claimValidatorFees(b.batchId, new address[](0));
            }
            ghostOwed[treasury] += b.treasuryTotal;
        } catch {}
    }

    function replay(uint256 i) external {
        if (settledCount == 0) return;
        vm.roll(block.number + 5);
        (Settlement.Batch memory b, bytes memory proof) = fixtureBatch(bound(i, 1, settledCount));
        try settlement.submitBatch(b, proof, certFor(b)) {
            doubleSettled += 1;
        } catch {}
    }

    function withdrawCredits(uint256 who) external {
        address account = accounts()[who % 6];
        uint256 amount = settlement.credits(account);
        if (amount == 0) return;
        vm.prank(account);
        settlement.withdraw();
        withdrawn[account] += amount;
    }
}

contract SettlementInvariants is Deployed {
    SettlementHandler internal handler;

    function setUp() public override {
        super.setUp();
        prepareFixtures();
        address[3] memory clients = Batches16.clients();
        for (uint256 i; i < 3; ++i) fund(clients[i], 100_000 ether); // for the handler's deposits
        handler = new SettlementHandler(settlement, token, TREASURY);
        targetContract(address(handler));
    }

    /// @dev The handler really settles batches (its try/catch would otherwise hide a campaign of reverts).
    function test_handlerSettles() public {
        handler.submitNext();
        handler.replay(0);
        handler.submitNext();
        vm.assertEq(handler.settledCount(), 2, "two batches settled");
        vm.assertEq(handler.doubleSettled(), 0, "replay refused");
        vm.assertEq(uint256(settlement.lastBatchId()), 2, "on-chain");
    }

    /// @dev Escrow never goes negative and tokens held cover every escrow and credit exactly.
    function invariant_solvent() public view {
        address[3] memory clients = Batches16.clients();
        uint256 sum = settlement.escrow(clients[0]) + settlement.escrow(clients[1]) + settlement.escrow(clients[2]);
        vm.assertEq(sum, settlement.totalEscrow(), "escrow book");
        vm.assertEq(
            token.balanceOf(address(settlement)),
            settlement.totalEscrow() + settlement.totalCredits() + settlement.totalValidatorPool(),
            "solvent"
        );
    }

    /// @dev Every settled fee is paid out exactly: each account's credits plus withdrawals equal its proven
    ///      share (78 % per receipt to operators, validatorTotal claimed by the signers by stake, treasuryTotal to
    ///      the treasury), the shares plus the claims' flooring dust left in the validator pool add up to the fees,
    ///      and the treasury gets at least 10 %.
    function invariant_exactSplit() public view {
        address[6] memory accounts = handler.accounts();
        uint256 owed;
        for (uint256 i; i < 6; ++i) {
            uint256 paid = settlement.credits(accounts[i]) + handler.withdrawn(accounts[i]);
            vm.assertEq(paid, handler.ghostOwed(accounts[i]), "account paid its share");
            owed += paid;
        }
        vm.assertEq(owed + settlement.totalValidatorPool(), handler.ghostFees(), "shares sum to the fees");
        vm.assertEq(handler.ghostDebited(), handler.ghostFees(), "clients debited the fees");
        vm.assertGe(handler.ghostOwed(TREASURY) * 10_000, handler.ghostFees() * 1_000, "treasury >= 10%");
    }

    /// @dev No batch ever settles twice; batches settle in order.
    function invariant_noDoubleSettlement() public view {
        vm.assertEq(handler.doubleSettled(), 0, "double settlement");
        vm.assertEq(uint256(settlement.lastBatchId()), handler.settledCount(), "sequential");
    }
}

/// @notice Drives NodeRegistry; the handler is bound as the registry's slasher.
contract StakeHandler is Test {
    NodeRegistry internal immutable nodes;
    Ax0nToken internal immutable token;
    uint256 internal constant MIN = 1_000 ether;
    address[4] internal actors = [address(0xD1), address(0xD2), address(0xD3), address(0xD4)];

    constructor(NodeRegistry nodes_, Ax0nToken token_) {
        nodes = nodes_;
        token = token_;
    }

    function actor(uint256 i) public view returns (address) {
        return actors[i % 4];
    }

    function register(uint256 who, uint256 stake) external {
        address a = actor(who);
        if (nodes.node(a).registered) return;
        stake = bound(stake, MIN, 10 * MIN);
        vm.startPrank(a);
        token.approve(address(nodes), stake);
        nodes.register(stake, new bytes32[](0), "e", KeyProofs.key(a), "default", KeyProofs.proof(nodes, a));
        vm.stopPrank();
    }

    function addStake(uint256 who, uint256 amount) external {
        address a = actor(who);
        if (!nodes.node(a).registered) return;
        amount = bound(amount, 1, 10 * MIN);
        vm.startPrank(a);
        token.approve(address(nodes), amount);
        nodes.addStake(amount);
        vm.stopPrank();
    }

    function unbond(uint256 who, uint256 amount) external {
        address a = actor(who);
        uint256 stake = nodes.node(a).stake;
        if (stake == 0) return;
        amount = bound(amount, 1, stake);
        if (stake - amount != 0 && stake - amount < MIN) amount = stake;
        vm.prank(a);
        nodes.requestUnbond(amount);
    }

    function withdraw(uint256 who) external {
        address a = actor(who);
        if (nodes.node(a).unbonding == 0) return;
        vm.roll(block.number + 10);
        vm.prank(a);
        nodes.withdrawUnbonded();
    }

    function slash(uint256 who, uint256 amount) external {
        address a = actor(who);
        if (!nodes.node(a).registered) return;
        nodes.slash(a, bound(amount, 0, 20 * MIN));
    }

    /// @dev Actor i's BLS key is that of secret i + 1 (registered with its proof of possession).
    function registerKey(uint256 who) external {
        uint256 i = who % 4;
        address a = actors[i];
        if (!nodes.node(a).registered || nodes.blsKey(a).length != 0) return;
        (bytes memory pk, bytes memory pop) = (BlsKeys.publicKey(i + 1), BlsKeys.proofOfPossession(i + 1));
        vm.prank(a);
        nodes.registerValidatorKey(pk, pop);
    }
}

contract StakeInvariants is Deployed {
    StakeHandler internal handler;
    NodeRegistry internal registry;

    function setUp() public override {
        super.setUp();
        registry = new NodeRegistry(token, params);
        handler = new StakeHandler(registry, token);
        registry.setSettlement(address(handler));
        for (uint256 i; i < 4; ++i) fund(handler.actor(i), 1_000_000 ether);
        targetContract(address(handler));
    }

    /// @dev Total stake equals deposits minus withdrawals minus slashes, and matches tokens held and node books.
    function invariant_stakeBooks() public view {
        uint256 total = registry.totalStake();
        vm.assertEq(total, registry.totalDeposited() - registry.totalWithdrawn() - registry.totalSlashed(), "books");
        vm.assertEq(token.balanceOf(address(registry)), total, "held");
        uint256 sum;
        for (uint256 i; i < 4; ++i) {
            NodeRegistry.Node memory n = registry.node(handler.actor(i));
            sum += n.stake + n.unbonding;
        }
        vm.assertEq(sum, total, "per-node sum");
    }

    /// @dev A key is in the aggregate iff its validator has bonded stake: the checkpointed aggregate key is the sum
    ///      of the keys whose node has stake > 0, and the counted stakes are exactly those nodes' bonded stakes.
    function invariant_aggregateIsTheKeysWithStake() public view {
        bytes memory expected = new bytes(128);
        uint256 total;
        for (uint256 i; i < 4; ++i) {
            address a = handler.actor(i);
            bool keyed = registry.blsKey(a).length != 0;
            uint256 stake = keyed ? registry.node(a).stake : 0;
            vm.assertEq(registry.validatorStakeAt(a, block.number), stake, "counted stake");
            total += stake;
            if (stake > 0) expected = BLS.addG1(expected, BlsKeys.publicKey(i + 1));
        }
        vm.assertEq(registry.totalValidatorStakeAt(block.number), total, "total counted stake");
        vm.assertEq(keccak256(registry.aggregateKeyAt(block.number)), keccak256(expected), "aggregate key");
    }

    /// @dev The operator list holds each registered actor exactly once, whatever was slashed or unbonded since.
    function invariant_operatorsEnumerated() public view {
        uint256 registered;
        for (uint256 i; i < 4; ++i) {
            if (registry.node(handler.actor(i)).registered) ++registered;
        }
        uint256 count = registry.operatorCount();
        vm.assertEq(count, registered, "count");
        for (uint256 i; i < count; ++i) {
            address op = registry.operatorAt(i);
            vm.assertTrue(registry.node(op).registered, "listed operator is registered");
            for (uint256 j; j < i; ++j) {
                vm.assertTrue(registry.operatorAt(j) != op, "listed once");
            }
        }
    }
}
