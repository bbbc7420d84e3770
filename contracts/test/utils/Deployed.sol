// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {KeyProofs} from "./KeyProofs.sol";

import {Test} from "./Test.sol";
import {Ax0nToken} from "../../src/Ax0nToken.sol";
import {ProtocolParams} from "../../src/ProtocolParams.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {NodeRegistry} from "../../src/NodeRegistry.sol";
import {Settlement} from "../../src/Settlement.sol";
import {IBatchVerifier} from "../../src/interfaces/IBatchVerifier.sol";
import {Batch16Verifier} from "../../src/verifiers/Batch16Verifier.sol";
import {Batches16} from "../fixtures/Batches16.sol";

/// @notice The generated fixtures (contracts/script/batch_fixtures.py): batches proved under this machine's setup.
abstract contract Fixtures {
    function fixtureBatch(uint256 i) internal pure returns (Settlement.Batch memory b, bytes memory proof) {
        (b, proof,) = Batches16.get(i);
    }

    /// @dev The fixture validators' stake certificate (all three signed, no non-signers) for batch `b.batchId`,
    ///      referring to the previous block.
    function certFor(Settlement.Batch memory b) internal view returns (Settlement.Certificate memory c) {
        c.referenceBlock = block.number - 1;
        (,, c.signature) = Batches16.get(b.batchId);
    }

    /// @dev Σ operatorAmounts of `b`.
    function operatorTotal(Settlement.Batch memory b) internal pure returns (uint256 sum) {
        for (uint256 k; k < b.operatorAmounts.length; ++k) sum += b.operatorAmounts[k];
    }
}

/// @notice Deploys the protocol as the Python deploy routine does (params from the devnet-like table below).
abstract contract Deployed is Test, Fixtures {
    address internal constant OPS_POOL = address(0x1000);
    address internal constant TEAM = address(0x1001);
    address internal constant ECOSYSTEM = address(0x1002);
    address internal constant TREASURY = address(0x1003);
    uint256 internal constant MIN_STAKE = 1_000 ether;
    uint256 internal constant FREQUENCY = 5;
    uint256 internal constant SLASH_WINDOW = 40;
    uint256 internal constant EPOCH = FREQUENCY + SLASH_WINDOW;

    Ax0nToken internal token;
    ProtocolParams internal params;
    ModelRegistry internal models;
    NodeRegistry internal nodes;
    Settlement internal settlement;

    function setUp() public virtual {
        token = new Ax0nToken(OPS_POOL, TEAM, ECOSYSTEM, TREASURY);
        params = new ProtocolParams(address(this), paramNames(), paramValues());
        models = new ModelRegistry(address(this), params);
        nodes = new NodeRegistry(token, params);
        settlement = new Settlement(token, nodes, params, IBatchVerifier(address(new Batch16Verifier())), TREASURY);
        nodes.setSettlement(address(settlement));
    }

    /// @dev ax0n.spec.params.DEVNET's table (the devnet's short periods, 16-seat quorums).
    function paramNames() internal pure returns (bytes32[] memory n) {
        n = new bytes32[](21);
        (n[0], n[1], n[2], n[3], n[4], n[5]) = (
            "min_node_stake", "slash_window", "base_fee_rate_bps", "operator_fee_share_bps",
            "validator_fee_share_bps", "max_batch_size"
        );
        (n[6], n[7], n[8], n[9], n[10]) =
            ("max_model_params", "validator_quorum_size", "settlement_frequency", "node_epoch_length", "emission_rate_bps");
        (n[11], n[12], n[13], n[14], n[15]) = (
            "routing_weight_stake", "routing_weight_uptime", "routing_weight_latency", "routing_latency_ref_ms",
            "routing_min_uptime_bps"
        );
        (n[16], n[17], n[18], n[19], n[20]) = (
            "slash_zk_output_bps", "slash_equivocation_bps", "slash_quorum_fault_bps", "slash_unauthorized_debit_bps",
            "challenger_reward_bps"
        );
    }

    function paramValues() internal pure returns (uint256[] memory v) {
        v = new uint256[](21);
        (v[0], v[1], v[2], v[3], v[4], v[5]) = (MIN_STAKE, SLASH_WINDOW, 30, 7_800, 1_200, 4_096);
        (v[6], v[7], v[8], v[9], v[10]) = (70_000_000_000, 16, FREQUENCY, EPOCH, 210);
        (v[11], v[12], v[13], v[14], v[15]) = (2, 5, 3, 2_000, 5_000);
        (v[16], v[17], v[18], v[19], v[20]) = (5_000, 10_000, 1_000, 10_000, 5_000);
    }

    /// @dev Give `who` tokens from the ecosystem allocation.
    function fund(address who, uint256 amount) internal {
        vm.prank(ECOSYSTEM);
        token.transfer(who, amount);
    }

    function registerNode(address operator, uint256 stake) internal {
        registerNode(operator, stake, "default");
    }

    function registerNode(address operator, uint256 stake, string memory cluster) internal {
        fund(operator, stake);
        vm.startPrank(operator);
        token.approve(address(nodes), stake);
        nodes.register(
            stake, new bytes32[](0), "grpc://node:7001", KeyProofs.key(operator), cluster, KeyProofs.proof(nodes, operator)
        );
        vm.stopPrank();
    }

    function depositFor(address client, uint256 amount) internal {
        fund(client, amount);
        vm.startPrank(client);
        token.approve(address(settlement), amount);
        settlement.deposit(amount);
        vm.stopPrank();
    }

    /// @dev Register the fixture operators and escrow enough for every fixture batch.
    function prepareFixtures() internal {
        address[2] memory ops = Batches16.operators();
        for (uint256 i; i < ops.length; ++i) registerNode(ops[i], MIN_STAKE);
        address[3] memory clients = Batches16.clients();
        for (uint256 i; i < clients.length; ++i) depositFor(clients[i], 1_000 ether);
        registerValidators();
    }

    /// @dev Register the fixture validators as staked nodes with their BLS keys.
    function registerValidators() internal {
        address[3] memory vals = Batches16.validators();
        for (uint256 i; i < vals.length; ++i) {
            registerNode(vals[i], MIN_STAKE);
            (bytes memory pk, bytes memory pop) = Batches16.validatorKey(i);
            vm.prank(vals[i]);
            nodes.registerValidatorKey(pk, pop);
        }
        vm.roll(block.number + 1); // certificates refer to a past block
    }
}
