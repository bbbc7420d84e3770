// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ProtocolParams} from "./ProtocolParams.sol";
import {Fees} from "./libraries/Fees.sol";
import {IZkVerifier} from "./interfaces/IZkVerifier.sol";

/// @title ModelRegistry
/// @notice Model id → commitment (weights Merkle root), tier, parameter count, verifying-key hash (zk tier)
///         and price per 1,000 tokens; for the zk tier also its mode: private weights (one shared circuit and
///         verifier, the commitment is the weights' Poseidon commitment) or public weights (the weights are circuit
///         constants: one circuit, verifying key and verifier contract per model, whose commitment binds the
///         weights and that key). Governed: the owner is the timelock.
/// @dev The registry cannot check that a public-weight verifier embodies the key `vkHash` names: governance
///      registers both, and every off-chain party verifies against the key with that hash (ax0n.spec.zkproof).
contract ModelRegistry is Ownable {
    enum Tier {
        Zk,
        Llm
    }

    enum ZkMode {
        PrivateWeights,
        PublicWeights
    }

    struct Model {
        bytes32 commitment;
        Tier tier;
        uint64 paramCount;
        bytes32 vkHash;
        uint256 pricePer1k;
        bool exists;
        ZkMode zkMode;
    }

    ProtocolParams public immutable params;
    mapping(bytes32 modelId => Model) private _models;
    /// @notice The verifier of each public-weight model, by its commitment (ZkVerifierRouter reads it).
    mapping(bytes32 commitment => IZkVerifier) public zkVerifierOf;

    error ModelExists(bytes32 modelId);
    error UnknownModel(bytes32 modelId);
    error EmptyCommitment();
    error TooManyParams(uint64 paramCount, uint256 max);
    error MissingVerifyingKey(bytes32 modelId);
    error MissingVerifier(bytes32 modelId);
    error CommitmentTaken(bytes32 commitment);

    event ModelRegistered(bytes32 indexed modelId, bytes32 commitment, Tier tier, uint64 paramCount, bytes32 vkHash);
    event PriceSet(bytes32 indexed modelId, uint256 pricePer1k);
    event PublicWeightsVerifier(bytes32 indexed modelId, bytes32 commitment, IZkVerifier verifier);

    constructor(address owner_, ProtocolParams params_) Ownable(owner_) {
        params = params_;
    }

    /// @notice Register a model (governance only): an LLM-tier model, or a private-weight zk-tier model (which
    ///         needs its verifying-key hash; its proofs verify under the shared MLP verifier).
    function register(
        bytes32 modelId,
        bytes32 commitment,
        Tier tier,
        uint64 paramCount,
        bytes32 vkHash,
        uint256 pricePer1k
    ) external onlyOwner {
        _register(modelId, commitment, tier, paramCount, vkHash, pricePer1k, ZkMode.PrivateWeights);
    }

    /// @notice Register a public-weight zk-tier model (governance only): `verifier` is the generated verifier of
    ///         its own circuit, whose verifying key hashes to `vkHash`; `commitment` binds its weights and that key.
    function registerPublicWeights(
        bytes32 modelId,
        bytes32 commitment,
        uint64 paramCount,
        bytes32 vkHash,
        IZkVerifier verifier,
        uint256 pricePer1k
    ) external onlyOwner {
        if (address(verifier) == address(0)) revert MissingVerifier(modelId);
        if (address(zkVerifierOf[commitment]) != address(0)) revert CommitmentTaken(commitment);
        _register(modelId, commitment, Tier.Zk, paramCount, vkHash, pricePer1k, ZkMode.PublicWeights);
        zkVerifierOf[commitment] = verifier;
        emit PublicWeightsVerifier(modelId, commitment, verifier);
    }

    function _register(
        bytes32 modelId,
        bytes32 commitment,
        Tier tier,
        uint64 paramCount,
        bytes32 vkHash,
        uint256 pricePer1k,
        ZkMode zkMode
    ) private {
        if (_models[modelId].exists) revert ModelExists(modelId);
        if (commitment == bytes32(0)) revert EmptyCommitment();
        uint256 maxParams = params.get(params.MAX_MODEL_PARAMS());
        if (paramCount > maxParams) revert TooManyParams(paramCount, maxParams);
        if (tier == Tier.Zk && vkHash == bytes32(0)) revert MissingVerifyingKey(modelId);
        _models[modelId] = Model(commitment, tier, paramCount, vkHash, pricePer1k, true, zkMode);
        emit ModelRegistered(modelId, commitment, tier, paramCount, vkHash);
        emit PriceSet(modelId, pricePer1k);
    }

    /// @notice Set a model's price per 1,000 tokens (governance only).
    function setPrice(bytes32 modelId, uint256 pricePer1k) external onlyOwner {
        if (!_models[modelId].exists) revert UnknownModel(modelId);
        _models[modelId].pricePer1k = pricePer1k;
        emit PriceSet(modelId, pricePer1k);
    }

    /// @notice The registered model `modelId`; reverts when unknown.
    function model(bytes32 modelId) external view returns (Model memory) {
        if (!_models[modelId].exists) revert UnknownModel(modelId);
        return _models[modelId];
    }

    /// @notice True when `modelId` is registered.
    function exists(bytes32 modelId) external view returns (bool) {
        return _models[modelId].exists;
    }

    /// @notice The least fee cap a request for `maxTokens` of model `modelId` may sign (Fees.baseFee).
    function baseFee(bytes32 modelId, uint256 maxTokens) external view returns (uint256) {
        if (!_models[modelId].exists) revert UnknownModel(modelId);
        return Fees.baseFee(_models[modelId].pricePer1k, maxTokens);
    }

    /// @notice What a receipt for `tokens` tokens of model `modelId` charges under `feeCap` (Fees.charge with
    ///         ProtocolParams' base_fee_rate_bps).
    function feeFor(bytes32 modelId, uint256 tokens, uint256 feeCap) external view returns (uint256) {
        if (!_models[modelId].exists) revert UnknownModel(modelId);
        return Fees.charge(_models[modelId].pricePer1k, tokens, feeCap, params.get(params.BASE_FEE_RATE_BPS()));
    }
}
