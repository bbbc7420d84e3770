// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {Deployed} from "./utils/Deployed.sol";
import {Ax0nGovernor} from "../src/Ax0nGovernor.sol";
import {Ax0nTimelock} from "../src/Ax0nTimelock.sol";

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
        c[0] = abi.encodeCall(params.set, ("settlement_frequency", 7));
    }

    function test_settings() public view {
        vm.assertEq(governor.votingDelay(), 48 hours, "delay");
        vm.assertEq(governor.votingPeriod(), 72 hours, "period");
        vm.assertEq(timelock.getMinDelay(), 7 days, "timelock");
        vm.assertEq(governor.quorum(block.timestamp - 1), 50_000_000 ether, "5% quorum");
    }

    function test_proposalExecutesOnlyAfterSevenDays() public {
        (address[] memory t, uint256[] memory v, bytes[] memory c) = _proposal();
        string memory description = "settle every 7 blocks";
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
        vm.assertEq(params.get("settlement_frequency"), 7, "changed after 7 days");
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
}
