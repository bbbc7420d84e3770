// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Test} from "./Test.sol";
import {Ax0nToken} from "../../src/Ax0nToken.sol";
import {ProtocolParams} from "../../src/ProtocolParams.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {NodeRegistry} from "../../src/NodeRegistry.sol";
import {Settlement} from "../../src/Settlement.sol";
import {IBatchVerifier} from "../../src/interfaces/IBatchVerifier.sol";
import {SampleBatchVerifier} from "../../src/verifiers/SampleBatchVerifier.sol";
import {SampleBatches} from "../fixtures/SampleBatches.sol";

/// @notice Turns the generated fixtures into Settlement batches.
abstract contract Fixtures {
    function fixtureBatch(uint256 i) internal pure returns (Settlement.Batch memory b, bytes memory proof) {
        SampleBatches.Fixture memory f = SampleBatches.get(i);
        b.batchId = f.batchId;
        b.root = f.root;
        b.count = f.count;
        b.clients = new address[](3);
        b.debits = new uint256[](3);
        b.operators = new address[](2);
        b.operatorCredits = new uint256[](2);
        b.validators = new address[](3);
        b.validatorCredits = new uint256[](3);
        for (uint256 k; k < 3; ++k) {
            (b.clients[k], b.debits[k]) = (SampleBatches.clients()[k], f.debits[k]);
            (b.validators[k], b.validatorCredits[k]) = (SampleBatches.validators()[k], f.validatorCredits[k]);
        }
        for (uint256 k; k < 2; ++k) {
            (b.operators[k], b.operatorCredits[k]) = (SampleBatches.operators()[k], f.operatorCredits[k]);
        }
        proof = f.proof;
    }

    /// @dev The fixture committee's certificate (all three validators signed) for batch `b.batchId`.
    function certFor(Settlement.Batch memory b) internal pure returns (Settlement.Certificate memory c) {
        address[3] memory vals = SampleBatches.validators();
        c.committee = new address[](3);
        for (uint256 k; k < 3; ++k) c.committee[k] = vals[k];
        c.signers = hex"07";
        c.signature = SampleBatches.get(b.batchId).signature;
    }
}

/// @notice Deploys the protocol as the Python deploy routine does (params from the devnet-like table below).
abstract contract Deployed is Test, Fixtures {
    address internal constant OPS_POOL = address(0x1000);
    address internal constant TEAM = address(0x1001);
    address internal constant ECOSYSTEM = address(0x1002);
    address internal constant TREASURY = address(0x1003);
    uint256 internal constant MIN_STAKE = 1_000 ether;
    uint256 internal constant EPOCH = 10;
    uint256 internal constant FREQUENCY = 5;

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
        settlement = new Settlement(token, nodes, params, IBatchVerifier(address(new SampleBatchVerifier())), TREASURY);
        nodes.setSettlement(address(settlement));
    }

    function paramNames() internal pure returns (bytes32[] memory n) {
        n = new bytes32[](10);
        (n[0], n[1], n[2], n[3], n[4], n[5]) = (
            "min_node_stake", "slash_window", "base_fee_rate_bps", "operator_fee_share_bps",
            "validator_fee_share_bps", "max_batch_size"
        );
        (n[6], n[7], n[8], n[9]) =
            ("max_model_params", "validator_quorum_size", "settlement_frequency", "node_epoch_length");
    }

    function paramValues() internal pure returns (uint256[] memory v) {
        v = new uint256[](10);
        (v[0], v[1], v[2], v[3], v[4], v[5]) = (MIN_STAKE, 20, 30, 7_800, 1_200, 4_096);
        (v[6], v[7], v[8], v[9]) = (70_000_000_000, 16, FREQUENCY, EPOCH);
    }

    /// @dev Give `who` tokens from the ecosystem allocation.
    function fund(address who, uint256 amount) internal {
        vm.prank(ECOSYSTEM);
        token.transfer(who, amount);
    }

    function registerNode(address operator, uint256 stake) internal {
        fund(operator, stake);
        vm.startPrank(operator);
        token.approve(address(nodes), stake);
        nodes.register(stake, new bytes32[](0), "grpc://node:7001", operator);
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
        address[2] memory ops = SampleBatches.operators();
        for (uint256 i; i < ops.length; ++i) registerNode(ops[i], MIN_STAKE);
        address[3] memory clients = SampleBatches.clients();
        for (uint256 i; i < clients.length; ++i) depositFor(clients[i], 1_000 ether);
        registerValidators();
    }

    /// @dev Register the fixture validators as staked nodes with their BLS keys.
    function registerValidators() internal {
        address[3] memory vals = SampleBatches.validators();
        for (uint256 i; i < vals.length; ++i) {
            registerNode(vals[i], MIN_STAKE);
            (bytes memory pk, bytes memory pop) = SampleBatches.validatorKey(i);
            vm.prank(vals[i]);
            nodes.registerValidatorKey(pk, pop);
        }
    }
}
