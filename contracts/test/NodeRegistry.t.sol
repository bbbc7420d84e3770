// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {KeyProofs} from "./utils/KeyProofs.sol";

import {Deployed} from "./utils/Deployed.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {Batches16} from "./fixtures/Batches16.sol";
import {Settlement} from "../src/Settlement.sol";

contract NodeRegistryTest is Deployed {
    address internal constant OP = address(0xA11CE);

    function test_register() public {
        vm.roll(42);
        registerNode(OP, 2 * MIN_STAKE, "eu-west.gpu_1");
        NodeRegistry.Node memory n = nodes.node(OP);
        vm.assertEq(n.stake, 2 * MIN_STAKE, "stake");
        vm.assertEq(n.signingKey, KeyProofs.key(OP), "signing key");
        vm.assertEq(nodes.operatorOfSigningKey(n.signingKey), OP, "key maps to its operator");
        vm.assertTrue(n.registered, "registered");
        vm.assertEq(keccak256(bytes(n.cluster)), keccak256("eu-west.gpu_1"), "cluster");
        vm.assertEq(uint256(n.registeredAt), 42, "registered at");
        vm.assertTrue(nodes.isActive(OP), "active");
        vm.assertEq(nodes.totalStake(), 2 * MIN_STAKE, "total");
    }

    function test_revert_registerBadEndpoint() public {
        fund(OP, MIN_STAKE);
        vm.startPrank(OP);
        token.approve(address(nodes), MIN_STAKE);
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidEndpointLength.selector, 0, 256));
        nodes.register(MIN_STAKE, none, "", KeyProofs.key(OP), "c", KeyProofs.proof(nodes, OP));
        bytes memory long257 = new bytes(257);
        for (uint256 i; i < 257; ++i) {
            long257[i] = "a";
        }
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidEndpointLength.selector, 257, 256));
        nodes.register(MIN_STAKE, none, string(long257), KeyProofs.key(OP), "c", KeyProofs.proof(nodes, OP));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidEndpointCharacter.selector, 4));
        nodes.register(MIN_STAKE, none, "grpc host", KeyProofs.key(OP), "c", KeyProofs.proof(nodes, OP));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidEndpointCharacter.selector, 1));
        nodes.register(MIN_STAKE, none, string(bytes(hex"61ff")), KeyProofs.key(OP), "c", KeyProofs.proof(nodes, OP)); // not UTF-8: web3 could not decode node()
        nodes.register(MIN_STAKE, none, "grpc://10.0.0.1:50052", KeyProofs.key(OP), "c", KeyProofs.proof(nodes, OP));
        vm.stopPrank();
        vm.assertEq(keccak256(bytes(nodes.node(OP).endpoint)), keccak256("grpc://10.0.0.1:50052"), "endpoint kept");
    }

    function test_revert_registerBadCluster() public {
        fund(OP, MIN_STAKE);
        vm.startPrank(OP);
        token.approve(address(nodes), MIN_STAKE);
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidClusterLength.selector, 0, 64));
        nodes.register(MIN_STAKE, none, "e", KeyProofs.key(OP), "", KeyProofs.proof(nodes, OP));
        string memory long65 = string(abi.encodePacked(bytes32(0), bytes32(0), bytes1(0)));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidClusterLength.selector, 65, 64));
        nodes.register(MIN_STAKE, none, "e", KeyProofs.key(OP), long65, KeyProofs.proof(nodes, OP));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidClusterCharacter.selector, 3));
        nodes.register(MIN_STAKE, none, "e", KeyProofs.key(OP), "abc:d", KeyProofs.proof(nodes, OP));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidClusterCharacter.selector, 0));
        nodes.register(MIN_STAKE, none, "e", KeyProofs.key(OP), "{a}", KeyProofs.proof(nodes, OP));
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidClusterCharacter.selector, 1));
        nodes.register(MIN_STAKE, none, "e", KeyProofs.key(OP), "a b", KeyProofs.proof(nodes, OP));
        string memory max64 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.";
        nodes.register(MIN_STAKE, none, "e", KeyProofs.key(OP), max64, KeyProofs.proof(nodes, OP)); // exactly 64 bytes of the allowed characters
        vm.stopPrank();
        vm.assertEq(keccak256(bytes(nodes.node(OP).cluster)), keccak256(bytes(max64)), "longest name kept");
    }

    function test_setCluster() public {
        registerNode(OP, MIN_STAKE, "a");
        vm.expectEmit();
        emit NodeRegistry.ClusterChanged(OP, "b-2");
        vm.prank(OP);
        nodes.setCluster("b-2");
        vm.assertEq(keccak256(bytes(nodes.node(OP).cluster)), keccak256("b-2"), "moved");
        vm.assertEq(nodes.node(OP).stake, MIN_STAKE, "stake untouched");
    }

    function test_revert_setCluster() public {
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.NotRegistered.selector, address(this)));
        nodes.setCluster("a");
        registerNode(OP, MIN_STAKE, "a");
        vm.startPrank(OP);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidClusterLength.selector, 0, 64));
        nodes.setCluster("");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidClusterCharacter.selector, 1));
        nodes.setCluster("a/b");
        vm.stopPrank();
        vm.assertEq(keccak256(bytes(nodes.node(OP).cluster)), keccak256("a"), "unchanged");
    }

    function test_operatorEnumeration() public {
        vm.assertEq(nodes.operatorCount(), 0, "none");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.IndexOutOfRange.selector, 0, 0));
        nodes.operatorAt(0);
        address other = address(0xB0B);
        registerNode(OP, 2 * MIN_STAKE, "a");
        registerNode(other, MIN_STAKE, "b");
        vm.prank(address(settlement));
        nodes.slash(other, MIN_STAKE); // slashed to nothing: inactive, still listed
        vm.prank(OP);
        nodes.requestUnbond(2 * MIN_STAKE); // fully unbonding: inactive, still listed
        vm.assertEq(nodes.operatorCount(), 2, "count");
        vm.assertEq(nodes.operatorAt(0), OP, "first");
        vm.assertEq(nodes.operatorAt(1), other, "second");
        vm.assertFalse(nodes.isActive(other), "slashed is inactive");
        vm.assertFalse(nodes.isActive(OP), "unbonded is inactive");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.IndexOutOfRange.selector, 2, 2));
        nodes.operatorAt(2);
    }

    function test_validatorEnumeration() public {
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.IndexOutOfRange.selector, 0, 0));
        nodes.validatorAt(0);
        registerNode(OP, MIN_STAKE); // a node without a validator key is not a validator
        registerValidators();
        address[3] memory vals = Batches16.validators();
        vm.assertEq(nodes.validatorCount(), 3, "count");
        for (uint256 i; i < 3; ++i) vm.assertEq(nodes.validatorAt(i), vals[i], "registration order");
        vm.assertEq(nodes.operatorCount(), 4, "validators are operators too");
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.IndexOutOfRange.selector, 3, 3));
        nodes.validatorAt(3);
    }

    function test_revert_registerLowStake() public {
        fund(OP, MIN_STAKE);
        vm.startPrank(OP);
        token.approve(address(nodes), MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.StakeTooLow.selector, MIN_STAKE - 1, MIN_STAKE));
        nodes.register(MIN_STAKE - 1, new bytes32[](0), "e", KeyProofs.key(OP), "a", KeyProofs.proof(nodes, OP));
        vm.stopPrank();
    }

    function test_revert_registerTwice() public {
        registerNode(OP, MIN_STAKE);
        vm.prank(OP);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.AlreadyRegistered.selector, OP));
        nodes.register(MIN_STAKE, new bytes32[](0), "e", KeyProofs.key(OP), "a", KeyProofs.proof(nodes, OP));
    }

    /// @notice Attack: register a victim's receipt signing key (its receipts would then have two operators and the
    ///         settler could credit neither). Without the key, no proof: the victim's own proof is bound to the victim.
    function test_attack_squattedSigningKeyRefused() public {
        address victim = address(0xB0B);
        address squatter = address(0xBAD);
        address victimKey = KeyProofs.key(victim);
        bytes memory victimProof = KeyProofs.proof(nodes, victim);
        fund(squatter, MIN_STAKE);
        vm.startPrank(squatter);
        token.approve(address(nodes), MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidSigningKeyProof.selector, victimKey));
        nodes.register(MIN_STAKE, new bytes32[](0), "e", victimKey, "a", victimProof); // copied from the mempool
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidSigningKeyProof.selector, victimKey));
        nodes.register(MIN_STAKE, new bytes32[](0), "e", victimKey, "a", KeyProofs.proof(nodes, squatter)); // its own key
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidSigningKeyProof.selector, victimKey));
        nodes.register(MIN_STAKE, new bytes32[](0), "e", victimKey, "a", hex"00");
        vm.stopPrank();
        registerNode(victim, MIN_STAKE);
        vm.assertEq(nodes.operatorOfSigningKey(victimKey), victim, "the victim holds its key");
        // Even holding the secret (a key shared or leaked), a second operator cannot take a registered key.
        bytes memory stolen = KeyProofs.proofWith(nodes, KeyProofs.secret(victim), squatter);
        vm.prank(squatter);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.SigningKeyTaken.selector, victimKey, victim));
        nodes.register(MIN_STAKE, new bytes32[](0), "e", victimKey, "a", stolen);
    }

    /// @notice A proof names the registry (and chain): one made for another registry does not register here.
    function test_revert_signingKeyProofForAnotherRegistry() public {
        NodeRegistry other = new NodeRegistry(token, params);
        bytes memory elsewhere = KeyProofs.proof(other, OP);
        fund(OP, MIN_STAKE);
        vm.startPrank(OP);
        token.approve(address(nodes), MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(NodeRegistry.InvalidSigningKeyProof.selector, KeyProofs.key(OP)));
        nodes.register(MIN_STAKE, new bytes32[](0), "e", KeyProofs.key(OP), "a", elsewhere);
        vm.stopPrank();
        vm.assertEq(nodes.signingKeyMessage(OP), keccak256(abi.encode(bytes32("ax0n/signing-key/v1"), OP, block.chainid, address(nodes))), "message");
    }

    function test_revert_zeroSigningKey() public {
        vm.prank(OP);
        vm.expectRevert(NodeRegistry.ZeroSigningKey.selector);
        nodes.register(MIN_STAKE, new bytes32[](0), "e", address(0), "a", "");
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
