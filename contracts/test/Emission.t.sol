// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {KeyProofs} from "./utils/KeyProofs.sol";

import {Test} from "./utils/Test.sol";
import {Deployed} from "./utils/Deployed.sol";
import {Ax0nToken} from "../src/Ax0nToken.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {ProtocolParams} from "../src/ProtocolParams.sol";

/// @notice Helpers shared by the emission tests: the expected emission, pool funding, approximate equality.
abstract contract EmissionBase is Deployed {
    address internal constant OP = address(0xA11CE);
    address internal constant OP2 = address(0xB0B);
    uint256 internal constant RATE = 210;

    /// @dev What `stake` earns over `dt` seconds at `rate` bps per 365-day year (exact, floored once).
    function expected(uint256 stake, uint256 dt, uint256 rate) internal pure returns (uint256) {
        return stake * rate * dt / (10_000 * 365 days);
    }

    /// @dev Fund the reward pool from the node-operator allocation.
    function fundPool(uint256 amount) internal {
        vm.startPrank(OPS_POOL);
        token.approve(address(nodes), amount);
        nodes.fundRewards(amount);
        vm.stopPrank();
    }

    function assertApprox(uint256 got, uint256 want, uint256 tolerance, string memory err) internal pure {
        vm.assertLe(got, want + tolerance, err);
        vm.assertGe(got + tolerance, want, err);
    }

    function skipTime(uint256 dt) internal {
        vm.warp(block.timestamp + dt);
    }
}

contract EmissionTest is EmissionBase {
    function test_defaultRate() public view {
        vm.assertEq(params.get(params.EMISSION_RATE_BPS()), RATE, "param default");
        vm.assertEq(nodes.emissionRateBps(), RATE, "registry rate");
        vm.assertEq(nodes.YEAR(), 365 days, "year");
        vm.assertEq(nodes.rewardPerToken(), 0, "index starts at 0");
    }

    function test_oneYearIsTwoPointOnePercent() public {
        registerNode(OP, 100_000 ether);
        skipTime(365 days);
        vm.assertEq(nodes.pendingRewards(OP), 2_100 ether, "2.1 % of 100,000 after one year");
        vm.assertEq(nodes.rewardPerToken(), 0.021e27, "index");
        fundPool(1_000_000 ether);
        vm.expectEmit();
        emit NodeRegistry.RewardsClaimed(OP, 2_100 ether, 0);
        vm.prank(OP);
        vm.assertEq(nodes.claimRewards(), 2_100 ether, "paid");
        vm.assertEq(token.balanceOf(OP), 2_100 ether, "received");
        vm.assertEq(nodes.pendingRewards(OP), 0, "nothing left");
        vm.assertEq(nodes.rewardPool(), 1_000_000 ether - 2_100 ether, "pool");
    }

    /// @dev The index rounds each update down by < 1 unit (< 1 wei of reward below 1e27 staked): a year of daily
    ///      updates stays within a wei a day of 2.1 %.
    function test_oneYearOfDailyUpdates() public {
        registerNode(OP, 12_345 ether);
        for (uint256 d; d < 365; ++d) {
            skipTime(1 days);
            nodes.checkpointRewards();
        }
        uint256 want = expected(12_345 ether, 365 days, RATE);
        vm.assertLe(nodes.pendingRewards(OP), want, "never more than the rate");
        assertApprox(nodes.pendingRewards(OP), want, 366, "within rounding");
    }

    function test_proRataStakesAndJoinTimes() public {
        registerNode(OP, 1_000 ether);
        skipTime(100 days);
        registerNode(OP2, 3_000 ether);
        vm.assertEq(nodes.pendingRewards(OP2), 0, "joins with nothing");
        skipTime(265 days);
        assertApprox(nodes.pendingRewards(OP), 21 ether, 2, "first: 2.1 % of 1,000 over the year");
        assertApprox(nodes.pendingRewards(OP2), expected(3_000 ether, 265 days, RATE), 3, "second: 265 days of 3,000");
    }

    function test_addStakeMidPeriod() public {
        registerNode(OP, 1_000 ether);
        skipTime(73 days);
        fund(OP, 1_000 ether);
        vm.startPrank(OP);
        token.approve(address(nodes), 1_000 ether);
        nodes.addStake(1_000 ether);
        vm.stopPrank();
        vm.assertEq(nodes.pendingRewards(OP), expected(1_000 ether, 73 days, RATE), "settled at the change");
        skipTime(146 days);
        uint256 want = expected(1_000 ether, 73 days, RATE) + expected(2_000 ether, 146 days, RATE);
        assertApprox(nodes.pendingRewards(OP), want, 2, "1,000 for 73 days, then 2,000 for 146 days");
    }

    function test_unbondingStopsAccrual() public {
        registerNode(OP, 3_000 ether);
        skipTime(30 days);
        vm.prank(OP);
        nodes.requestUnbond(1_000 ether);
        skipTime(30 days);
        uint256 want = expected(3_000 ether, 30 days, RATE) + expected(2_000 ether, 30 days, RATE);
        assertApprox(nodes.pendingRewards(OP), want, 2, "unbonding part stopped earning");
        vm.prank(OP);
        nodes.requestUnbond(2_000 ether); // full exit
        uint256 frozen = nodes.pendingRewards(OP);
        skipTime(200 days);
        vm.roll(block.number + EPOCH);
        vm.prank(OP);
        nodes.withdrawUnbonded();
        vm.assertEq(nodes.pendingRewards(OP), frozen, "no stake, no accrual");
        fundPool(frozen);
        vm.prank(OP);
        vm.assertEq(nodes.claimRewards(), frozen, "still claimable after exit");
    }

    function test_slashStopsAccrualOnSlashedPart() public {
        registerNode(OP, 2_000 ether);
        vm.prank(OP);
        nodes.requestUnbond(500 ether); // 1,500 bonded, 500 unbonding
        skipTime(50 days);
        vm.prank(address(settlement));
        nodes.slash(OP, 1_000 ether); // takes bonded stake first: 500 bonded left
        uint256 atSlash = nodes.pendingRewards(OP);
        assertApprox(atSlash, expected(1_500 ether, 50 days, RATE), 1, "earned before the slash is kept");
        skipTime(50 days);
        assertApprox(nodes.pendingRewards(OP), atSlash + expected(500 ether, 50 days, RATE), 2, "500 left earning");
        vm.prank(address(settlement));
        nodes.slash(OP, 600 ether); // the rest of the bond and 100 of the unbonding stake
        uint256 afterSecond = nodes.pendingRewards(OP);
        skipTime(50 days);
        vm.assertEq(nodes.pendingRewards(OP), afterSecond, "nothing bonded, nothing earned");
    }

    function test_claimTwicePaysOnce() public {
        registerNode(OP, 10_000 ether);
        fundPool(1_000 ether);
        skipTime(10 days);
        uint256 owed = nodes.pendingRewards(OP);
        vm.startPrank(OP);
        nodes.claimRewards();
        vm.expectRevert(NodeRegistry.NothingToClaim.selector);
        nodes.claimRewards();
        vm.stopPrank();
        vm.assertEq(token.balanceOf(OP), owed, "paid once");
        vm.assertEq(nodes.rewardPool(), 1_000 ether - owed, "pool debited once");
        skipTime(1 days);
        vm.prank(OP);
        assertApprox(nodes.claimRewards(), expected(10_000 ether, 1 days, RATE), 1, "then only the new day");
    }

    function test_underfundedPoolPaysWhatIsThereAndOwesTheRest() public {
        registerNode(OP, 100_000 ether);
        skipTime(365 days); // 2,100 owed
        vm.prank(OP);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.RewardPoolEmpty.selector, 2_100 ether));
        nodes.claimRewards();
        fundPool(1_000 ether);
        vm.expectEmit();
        emit NodeRegistry.RewardsClaimed(OP, 1_000 ether, 1_100 ether);
        vm.prank(OP);
        nodes.claimRewards();
        vm.assertEq(nodes.rewardPool(), 0, "pool drained");
        vm.assertEq(nodes.pendingRewards(OP), 1_100 ether, "the rest stays owed");
        vm.assertEq(token.balanceOf(address(nodes)), nodes.totalStake(), "stake untouched");
        fundPool(5_000 ether);
        vm.prank(OP);
        vm.assertEq(nodes.claimRewards(), 1_100 ether, "paid in full once funded");
        vm.assertEq(nodes.rewardPool(), 3_900 ether, "pool");
    }

    function test_nothingToClaimForStrangers() public {
        fundPool(1 ether);
        skipTime(1 days);
        vm.expectRevert(NodeRegistry.NothingToClaim.selector);
        nodes.claimRewards();
    }

    function test_fundRewards() public {
        registerNode(OP, 1_000 ether);
        vm.startPrank(OPS_POOL);
        token.approve(address(nodes), 50 ether);
        vm.expectRevert(NodeRegistry.ZeroAmount.selector);
        nodes.fundRewards(0);
        vm.expectEmit();
        emit NodeRegistry.RewardsFunded(OPS_POOL, 50 ether);
        nodes.fundRewards(50 ether);
        vm.stopPrank();
        vm.assertEq(nodes.rewardPool(), 50 ether, "pool");
        vm.assertEq(token.balanceOf(address(nodes)), nodes.totalStake() + nodes.rewardPool(), "held");
    }

    /// @dev A governance change of emission_rate_bps applies from the next checkpoint, never retroactively.
    function test_rateChangeAppliesFromCheckpoint() public {
        bytes32 name = params.EMISSION_RATE_BPS();
        registerNode(OP, 10_000 ether);
        skipTime(100 days);
        params.set(name, 420); // this test contract owns ProtocolParams
        skipTime(10 days);
        uint256 want = expected(10_000 ether, 110 days, RATE);
        assertApprox(nodes.pendingRewards(OP), want, 1, "old rate until a checkpoint");
        vm.expectEmit();
        emit NodeRegistry.EmissionRateChanged(420);
        nodes.checkpointRewards();
        vm.assertEq(nodes.emissionRateBps(), 420, "adopted");
        skipTime(100 days);
        want += expected(10_000 ether, 100 days, 420);
        assertApprox(nodes.pendingRewards(OP), want, 2, "new rate from the checkpoint");
        vm.expectRevert(abi.encodeWithSelector(ProtocolParams.InvalidParam.selector, name, 10_001, "rate above 100%"));
        params.set(name, 10_001);
        params.set(name, 0);
        nodes.checkpointRewards();
        uint256 before = nodes.pendingRewards(OP);
        skipTime(30 days);
        vm.assertEq(nodes.pendingRewards(OP), before, "rate 0 stops emission");
    }

    /// @dev Whatever the stake, duration and number of intermediate updates, a node earns the rate's amount
    ///      (never more; less by under 1 wei per index update plus the final floor).
    function testFuzz_accrualMatchesRate(uint96 stake, uint32 duration, uint8 updates) public {
        uint256 s = bound(stake, MIN_STAKE, 10_000_000 ether);
        uint256 dt = bound(duration, 1, 10 * 365 days);
        uint256 k = bound(updates, 0, 8);
        registerNode(OP, s);
        uint256 step = dt / (k + 1);
        for (uint256 i; i < k; ++i) {
            skipTime(step);
            nodes.checkpointRewards();
        }
        skipTime(dt - k * step);
        uint256 want = expected(s, dt, RATE);
        uint256 got = nodes.pendingRewards(OP);
        vm.assertLe(got, want, "never more than the rate");
        vm.assertGe(got + k + 2, want, "within rounding");
    }
}

/// @notice Drives stake changes, slashes, time, funding and claims on a registry it is the slasher of, and
///         integrates each node's expected emission independently (ghost), one segment per action.
contract EmissionHandler is Test {
    NodeRegistry internal immutable nodes;
    Ax0nToken internal immutable token;
    address internal immutable funder;
    uint256 internal constant MIN = 1_000 ether;
    address[3] internal actors = [address(0xE1), address(0xE2), address(0xE3)];

    mapping(address operator => uint256) public ghostEarned;
    mapping(address operator => uint256) public claimed;
    uint256 public calls;

    constructor(NodeRegistry nodes_, Ax0nToken token_, address funder_) {
        nodes = nodes_;
        token = token_;
        funder = funder_;
    }

    function actor(uint256 i) public view returns (address) {
        return actors[i % 3];
    }

    function register(uint256 who, uint256 stake) external {
        address a = actor(who);
        if (nodes.node(a).registered) return;
        stake = bound(stake, MIN, 100 * MIN);
        vm.startPrank(a);
        token.approve(address(nodes), stake);
        nodes.register(stake, new bytes32[](0), "e", KeyProofs.key(a), "default", KeyProofs.proof(nodes, a));
        vm.stopPrank();
        ++calls;
    }

    function addStake(uint256 who, uint256 amount) external {
        address a = actor(who);
        if (!nodes.node(a).registered) return;
        amount = bound(amount, 1, 100 * MIN);
        vm.startPrank(a);
        token.approve(address(nodes), amount);
        nodes.addStake(amount);
        vm.stopPrank();
        ++calls;
    }

    function unbond(uint256 who, uint256 amount) external {
        address a = actor(who);
        uint256 stake = nodes.node(a).stake;
        if (stake == 0) return;
        amount = bound(amount, 1, stake);
        if (stake - amount != 0 && stake - amount < MIN) amount = stake;
        vm.prank(a);
        nodes.requestUnbond(amount);
        ++calls;
    }

    function slash(uint256 who, uint256 amount) external {
        address a = actor(who);
        if (!nodes.node(a).registered) return;
        nodes.slash(a, bound(amount, 0, 50 * MIN));
        ++calls;
    }

    /// @dev Let time pass; each node's bonded stake is constant over the gap, so the ghost adds stake·rate·dt.
    function elapse(uint256 dt) external {
        dt = bound(dt, 1, 60 days);
        ++calls;
        for (uint256 i; i < 3; ++i) {
            ghostEarned[actors[i]] += nodes.node(actors[i]).stake * 210 * dt / (10_000 * 365 days);
        }
        vm.warp(block.timestamp + dt);
    }

    function fund(uint256 amount) external {
        amount = bound(amount, 1, 10 * MIN);
        vm.startPrank(funder);
        token.approve(address(nodes), amount);
        nodes.fundRewards(amount);
        vm.stopPrank();
    }

    function claim(uint256 who) external {
        address a = actor(who);
        if (nodes.pendingRewards(a) == 0 || nodes.rewardPool() == 0) return;
        vm.prank(a);
        claimed[a] += nodes.claimRewards();
        ++calls;
    }
}

contract EmissionInvariants is Deployed {
    EmissionHandler internal handler;
    NodeRegistry internal registry;

    function setUp() public override {
        super.setUp();
        registry = new NodeRegistry(token, params);
        handler = new EmissionHandler(registry, token, OPS_POOL);
        registry.setSettlement(address(handler));
        for (uint256 i; i < 3; ++i) fund(handler.actor(i), 10_000_000 ether);
        targetContract(address(handler));
    }

    /// @dev The handler really registers, earns and claims (its early returns would otherwise hide a dull campaign).
    function test_handlerEarnsAndClaims() public {
        handler.register(0, 5_000 ether);
        handler.elapse(30 days);
        handler.fund(10_000 ether);
        handler.claim(0);
        vm.assertGe(handler.claimed(handler.actor(0)), 1, "claimed");
        invariant_earnedMatchesRate();
    }

    /// @dev Tokens held are exactly stake plus the reward pool: claims never touch stake.
    function invariant_rewardBooks() public view {
        vm.assertEq(token.balanceOf(address(registry)), registry.totalStake() + registry.rewardPool(), "held");
    }

    /// @dev Each node's claimed plus pending emission equals the independently integrated rate·stake·time within
    ///      rounding: both sides floor, the ghost once per time step, the registry once per index update and once
    ///      per settlement (under 1 wei each), so they differ by at most a few wei per handler call.
    function invariant_earnedMatchesRate() public view {
        uint256 slack = 3 * (handler.calls() + 1);
        for (uint256 i; i < 3; ++i) {
            address a = handler.actor(i);
            uint256 got = handler.claimed(a) + registry.pendingRewards(a);
            uint256 want = handler.ghostEarned(a);
            vm.assertLe(got, want + slack, "not above the rate");
            vm.assertGe(got + slack, want, "not below the rate");
        }
    }
}

/// @notice One call per test from a settled state, for `forge test --match-contract EmissionGasTest --gas-report`
///         (the figures in docs/contracts.md): a day has passed since the last update, so each call advances the
///         index.
contract EmissionGasTest is EmissionBase {
    function setUp() public override {
        super.setUp();
        skipTime(1 days); // so OP's reward slot is non-zero, as for any node not registered at deployment
        registerNode(OP, 3 * MIN_STAKE);
        fund(OP, 10 ether);
        fund(OP2, MIN_STAKE);
        vm.prank(OP);
        token.approve(address(nodes), 10 ether);
        vm.prank(OP2);
        token.approve(address(nodes), MIN_STAKE);
        fundPool(1_000 ether);
        vm.prank(OPS_POOL);
        token.approve(address(nodes), 1_000 ether);
        skipTime(1 days);
    }

    function test_gas_register() public {
        bytes memory keyProof = KeyProofs.proof(nodes, OP2);
        vm.prank(OP2);
        nodes.register(MIN_STAKE, new bytes32[](0), "grpc://node:7001", KeyProofs.key(OP2), "default", keyProof);
        vm.assertEq(nodes.pendingRewards(OP2), 0, "starts at 0");
    }

    function test_gas_addStake() public {
        vm.prank(OP);
        nodes.addStake(10 ether);
        vm.assertEq(nodes.node(OP).stake, 3 * MIN_STAKE + 10 ether, "stake");
    }

    function test_gas_requestUnbond() public {
        vm.prank(OP);
        nodes.requestUnbond(MIN_STAKE);
        vm.assertEq(nodes.node(OP).stake, 2 * MIN_STAKE, "stake");
    }

    function test_gas_slash() public {
        vm.prank(address(settlement));
        nodes.slash(OP, MIN_STAKE);
        vm.assertEq(nodes.node(OP).stake, 2 * MIN_STAKE, "stake");
    }

    function test_gas_claimRewards() public {
        vm.prank(OP);
        assertApprox(nodes.claimRewards(), expected(3 * MIN_STAKE, 1 days, RATE), 1, "one day");
    }

    function test_gas_fundRewards() public {
        vm.prank(OPS_POOL);
        nodes.fundRewards(1_000 ether);
        vm.assertEq(nodes.rewardPool(), 2_000 ether, "pool");
    }
}
