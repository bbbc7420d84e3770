// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Deployed} from "./utils/Deployed.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {Batches16} from "./fixtures/Batches16.sol";
import {Settlement} from "../src/Settlement.sol";

contract NodeRegistryTest is Deployed {
    address internal constant OP = address(0xA11CE);

    function test_register() public {
        registerNode(OP, 2 * MIN_STAKE);
        NodeRegistry.Node memory n = nodes.node(OP);
        vm.assertEq(n.stake, 2 * MIN_STAKE, "stake");
        vm.assertEq(n.signingKey, OP, "signing key");
        vm.assertTrue(n.registered, "registered");
        vm.assertTrue(nodes.isActive(OP), "active");
        vm.assertEq(nodes.totalStake(), 2 * MIN_STAKE, "total");
    }

    function test_revert_registerLowStake() public {
        fund(OP, MIN_STAKE);
        vm.startPrank(OP);
        token.approve(address(nodes), MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.StakeTooLow.selector, MIN_STAKE - 1, MIN_STAKE));
        nodes.register(MIN_STAKE - 1, new bytes32[](0), "e", OP);
        vm.stopPrank();
    }

    function test_revert_registerTwice() public {
        registerNode(OP, MIN_STAKE);
        vm.prank(OP);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.AlreadyRegistered.selector, OP));
        nodes.register(MIN_STAKE, new bytes32[](0), "e", OP);
    }

    function test_revert_zeroSigningKey() public {
        vm.prank(OP);
        vm.expectRevert(NodeRegistry.ZeroSigningKey.selector);
        nodes.register(MIN_STAKE, new bytes32[](0), "e", address(0));
    }

    function test_addStake() public {
        registerNode(OP, MIN_STAKE);
        fund(OP, 5 ether);
        vm.startPrank(OP);
        token.approve(address(nodes), 5 ether);
        nodes.addStake(5 ether);
        vm.expectRevert(NodeRegistry.ZeroAmount.selector);
        nodes.addStake(0);
        vm.stopPrank();
        vm.assertEq(nodes.node(OP).stake, MIN_STAKE + 5 ether, "stake");
    }

    function test_revert_notRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, address(this)));
        nodes.addStake(1);
    }

    function test_unbondAndWithdraw() public {
        registerNode(OP, 3 * MIN_STAKE);
        vm.startPrank(OP);
        nodes.requestUnbond(MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.StillUnbonding.selector, uint64(block.number + EPOCH)));
        nodes.withdrawUnbonded();
        vm.roll(block.number + EPOCH);
        nodes.withdrawUnbonded();
        vm.expectRevert(NodeRegistry.NothingToWithdraw.selector);
        nodes.withdrawUnbonded();
        vm.stopPrank();
        vm.assertEq(token.balanceOf(OP), MIN_STAKE, "withdrawn");
        vm.assertEq(nodes.node(OP).stake, 2 * MIN_STAKE, "still bonded");
        vm.assertEq(nodes.totalStake(), 2 * MIN_STAKE, "total");
    }

    function test_revert_unbondRules() public {
        registerNode(OP, 2 * MIN_STAKE);
        vm.startPrank(OP);
        vm.expectRevert(NodeRegistry.ZeroAmount.selector);
        nodes.requestUnbond(0);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InsufficientStake.selector, 2 * MIN_STAKE, 3 * MIN_STAKE));
        nodes.requestUnbond(3 * MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.StakeTooLow.selector, MIN_STAKE - 1, MIN_STAKE));
        nodes.requestUnbond(MIN_STAKE + 1);
        nodes.requestUnbond(2 * MIN_STAKE); // full exit is allowed
        vm.stopPrank();
        vm.assertFalse(nodes.isActive(OP), "inactive after full unbond");
    }

    function test_revert_slashOnlySettlement() public {
        registerNode(OP, MIN_STAKE);
        vm.expectRevert(NodeRegistry.OnlySettlement.selector);
        nodes.slash(OP, 1);
    }

    function test_slashTakesStakeThenUnbonding() public {
        registerNode(OP, 2 * MIN_STAKE);
        vm.prank(OP);
        nodes.requestUnbond(MIN_STAKE);
        vm.prank(address(settlement));
        uint256 slashed = nodes.slash(OP, MIN_STAKE + 7);
        vm.assertEq(slashed, MIN_STAKE + 7, "slashed");
        vm.assertEq(nodes.node(OP).stake, 0, "stake gone");
        vm.assertEq(nodes.node(OP).unbonding, MIN_STAKE - 7, "unbonding cut");
        vm.assertEq(token.balanceOf(address(settlement)), MIN_STAKE + 7, "to settlement");
        vm.prank(address(settlement));
        vm.assertEq(nodes.slash(OP, 10 * MIN_STAKE), MIN_STAKE - 7, "capped at what is left");
    }

    function test_revert_setSettlement() public {
        vm.expectRevert(NodeRegistry.SettlementAlreadySet.selector);
        nodes.setSettlement(address(1));
        vm.prank(OP);
        vm.expectRevert(NodeRegistry.OnlyDeployer.selector);
        nodes.setSettlement(address(1));
    }

    function test_registerValidatorKey() public {
        address val = Batches16.validators()[0];
        registerNode(val, MIN_STAKE);
        (bytes memory pk, bytes memory pop) = Batches16.validatorKey(0);
        (, bytes memory otherPop) = Batches16.validatorKey(1);
        vm.startPrank(val);
        vm.expectRevert(NodeRegistry.InvalidProofOfPossession.selector);
        nodes.registerValidatorKey(pk, otherPop);
        nodes.registerValidatorKey(pk, pop);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.ValidatorKeySet.selector, val));
        nodes.registerValidatorKey(pk, pop);
        vm.stopPrank();
        vm.assertEq(keccak256(nodes.blsKey(val)), keccak256(pk), "key stored");
        vm.assertEq(nodes.validatorCount(), 1, "count");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, address(this)));
        nodes.registerValidatorKey(pk, pop);
    }

    function test_verifyAggregate() public {
        registerValidators();
        address[] memory signers = new address[](3);
        for (uint256 i; i < 3; ++i) signers[i] = Batches16.validators()[i];
        (Settlement.Batch memory b,, bytes memory signature) = Batches16.get(1);
        (,, bytes memory other) = Batches16.get(2);
        bytes memory message = abi.encodePacked(settlement.batchSigningRoot(1, b.root));
        vm.assertTrue(nodes.verifyAggregate(signers, message, signature), "valid");
        vm.assertFalse(nodes.verifyAggregate(signers, message, other), "other message");
        vm.expectRevert(NodeRegistry.NoSigners.selector);
        nodes.verifyAggregate(new address[](0), message, signature);
        signers[2] = address(0xBEEF);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NoBlsKey.selector, address(0xBEEF)));
        nodes.verifyAggregate(signers, message, signature);
    }

    function testFuzz_stakeAccounting(uint96 stake, uint96 unbond) public {
        uint256 s = bound(stake, MIN_STAKE, 1_000_000 ether);
        uint256 u = bound(unbond, 1, s);
        vm.assume(s - u == 0 || s - u >= MIN_STAKE);
        registerNode(OP, s);
        vm.prank(OP);
        nodes.requestUnbond(u);
        vm.roll(block.number + EPOCH);
        vm.prank(OP);
        nodes.withdrawUnbonded();
        vm.assertEq(nodes.totalStake(), s - u, "total stake");
        vm.assertEq(nodes.totalStake(), nodes.totalDeposited() - nodes.totalWithdrawn() - nodes.totalSlashed(), "books");
        vm.assertEq(token.balanceOf(address(nodes)), s - u, "held");
    }
}
