// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {Deployed} from "./utils/Deployed.sol";
import {Ax0nGovernor} from "../src/Ax0nGovernor.sol";
import {Ax0nTimelock} from "../src/Ax0nTimelock.sol";
import {ProtocolParams} from "../src/ProtocolParams.sol";

contract GovernanceTest is Deployed {
    Ax0nTimelock internal timelock;
    Ax0nGovernor internal governor;

    function setUp() public override {
        super.setUp();
        timelock = new Ax0nTimelock(new address[](0), address(this));
        governor = new Ax0nGovernor(token, timelock);
        timelock.grantRole(timelock.PROPOSER_ROLE(), address(governor));
        timelock.grantRole(timelock.CANCELLER_ROLE(), address(governor));
        timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), address(this));
        params.transferOwnership(address(timelock));
        models.transferOwnership(address(timelock));
        vm.prank(TEAM); // 18 % of the supply: above the 5 % quorum
        token.delegate(TEAM);
        vm.warp(block.timestamp + 1);
    }

    function _proposal() internal view returns (address[] memory t, uint256[] memory v, bytes[] memory c) {
        t = new address[](1);
        v = new uint256[](1);
        c = new bytes[](1);
        t[0] = address(params);
        c[0] = abi.encodeCall(params.set, ("settlement_frequency", 3));
    }

    function test_settings() public view {
        vm.assertEq(governor.votingDelay(), 48 hours, "delay");
        vm.assertEq(governor.votingPeriod(), 72 hours, "period");
        vm.assertEq(timelock.getMinDelay(), 7 days, "timelock");
        vm.assertEq(governor.quorum(block.timestamp - 1), 50_000_000 ether, "5% quorum");
    }

    function test_proposalExecutesOnlyAfterSevenDays() public {
        (address[] memory t, uint256[] memory v, bytes[] memory c) = _proposal();
        string memory description = "settle every 3 blocks";
        bytes32 descHash = keccak256(bytes(description));
        vm.prank(TEAM);
        uint256 id = governor.propose(t, v, c, description);
        vm.warp(block.timestamp + 48 hours + 1);
        vm.prank(TEAM);
        governor.castVote(id, 1);
        vm.warp(block.timestamp + 72 hours);
        vm.assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Succeeded), "succeeded");
        governor.queue(t, v, c, descHash);

        vm.warp(block.timestamp + 7 days - 1);
        vm.expectRevert(); // TimelockUnexpectedOperationState: not ready yet
        governor.execute(t, v, c, descHash);
        vm.assertEq(params.get("settlement_frequency"), FREQUENCY, "unchanged before 7 days");

        vm.warp(block.timestamp + 1);
        governor.execute(t, v, c, descHash);
        vm.assertEq(params.get("settlement_frequency"), 3, "changed after 7 days");
    }

    function test_revert_skipTimelock() public {
        vm.prank(address(governor));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(governor)));
        params.set("settlement_frequency", 7);
        vm.prank(TEAM);
        vm.expectRevert(); // AccessControlUnauthorizedAccount: only the governor proposes to the timelock
        timelock.schedule(address(params), 0, abi.encodeCall(params.set, ("settlement_frequency", 7)), 0, 0, 7 days);
    }

    function test_revert_defeatedWithoutQuorum() public {
        (address[] memory t, uint256[] memory v, bytes[] memory c) = _proposal();
        vm.prank(TEAM);
        uint256 id = governor.propose(t, v, c, "x");
        vm.warp(block.timestamp + 48 hours + 72 hours + 2);
        vm.assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Defeated), "no votes: defeated");
    }

    /// @dev Pass `call` on ProtocolParams through the whole governance path: propose, 48 h, vote, 72 h, queue, 7 days,
    ///      execute. Reverts (at execution) when the call itself reverts.
    function _govern(bytes memory call, string memory description) internal {
        (address[] memory t, uint256[] memory v, bytes[] memory c) = _queued(call, description);
        governor.execute(t, v, c, keccak256(bytes(description)));
    }

    /// @dev `call` proposed, voted and queued, 7 days passed: ready to execute.
    function _queued(bytes memory call, string memory description)
        internal
        returns (address[] memory t, uint256[] memory v, bytes[] memory c)
    {
        t = new address[](1);
        v = new uint256[](1);
        c = new bytes[](1);
        (t[0], c[0]) = (address(params), call);
        vm.prank(TEAM);
        uint256 id = governor.propose(t, v, c, description);
        vm.warp(block.timestamp + 48 hours + 1);
        vm.prank(TEAM);
        governor.castVote(id, 1);
        vm.warp(block.timestamp + 72 hours);
        governor.queue(t, v, c, keccak256(bytes(description)));
        vm.warp(block.timestamp + 7 days);
    }

    /// @dev A proposal changes `name` to `value`; neither the governor nor anyone else can change it directly.
    function _governs(bytes32 name, uint256 value) internal {
        vm.assertTrue(params.get(name) != value, "the test changes the value");
        vm.prank(address(governor));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(governor)));
        params.set(name, value);
        vm.prank(TEAM);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, TEAM));
        params.set(name, value);
        _govern(abi.encodeCall(params.set, (name, value)), string(abi.encodePacked("set ", name)));
        vm.assertEq(params.get(name), value, "changed by the proposal");
    }

    // What the README says governance controls: routing weights, slashing ratios, emission rate, quorum size,
    // settlement frequency. One test each.
    function test_governs_routing_weight_stake() public {
        _governs("routing_weight_stake", 4);
    }

    function test_governs_routing_weight_uptime() public {
        _governs("routing_weight_uptime", 1);
    }

    function test_governs_routing_weight_latency() public {
        _governs("routing_weight_latency", 6);
    }

    function test_governs_routing_latency_ref_ms() public {
        _governs("routing_latency_ref_ms", 500);
    }

    function test_governs_routing_min_uptime_bps() public {
        _governs("routing_min_uptime_bps", 9_000);
    }

    function test_governs_slash_zk_output_bps() public {
        _governs("slash_zk_output_bps", 7_500);
    }

    function test_governs_slash_equivocation_bps() public {
        _governs("slash_equivocation_bps", 8_000);
    }

    function test_governs_slash_quorum_fault_bps() public {
        _governs("slash_quorum_fault_bps", 2_500);
    }

    function test_governs_slash_unauthorized_debit_bps() public {
        _governs("slash_unauthorized_debit_bps", 9_000);
    }

    function test_governs_challenger_reward_bps() public {
        _governs("challenger_reward_bps", 2_000);
    }

    function test_governs_emission_rate_bps() public {
        _governs("emission_rate_bps", 300);
    }

    function test_governs_validator_quorum_size() public {
        _governs("validator_quorum_size", 128);
    }

    function test_governs_settlement_frequency() public {
        _governs("settlement_frequency", 4);
    }

    /// @dev A passed proposal that would let stake leave before its receipts' challenge window ends fails at
    ///      execution: the invariant binds governance too.
    function test_revert_aProposalBreakingTheUnbondingInvariant() public {
        uint256 epoch = params.get("node_epoch_length");
        string memory description = "lengthen the challenge window past unbonding";
        (address[] memory t, uint256[] memory v, bytes[] memory c) =
            _queued(abi.encodeCall(params.set, ("slash_window", epoch)), description);
        vm.expectRevert(
            abi.encodeWithSelector(
                ProtocolParams.InvalidParam.selector,
                bytes32("slash_window"),
                epoch,
                "unbonding shorter than settlement plus challenge window"
            )
        );
        governor.execute(t, v, c, keccak256(bytes(description)));
        vm.assertEq(params.get("slash_window"), SLASH_WINDOW, "unchanged");
    }
}
