// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ProtocolParams
/// @notice The on-chain mirror of `ax0n.spec.params`: one value per parameter name, owned by the timelock, so a
///         change goes through the governor and the 7-day delay. Names are the Python field names. Every change
///         keeps the table's invariants (ax0n.spec.params.violations): unbonding outlasts a settlement round plus
///         the challenge window, fee shares sum to at most 100 %, rates are at most 100 %, periods are positive.
contract ProtocolParams is Ownable {
    uint256 internal constant BPS = 10_000;

    bytes32 public constant MIN_NODE_STAKE = "min_node_stake";
    bytes32 public constant SLASH_WINDOW = "slash_window";
    bytes32 public constant BASE_FEE_RATE_BPS = "base_fee_rate_bps";
    bytes32 public constant OPERATOR_FEE_SHARE_BPS = "operator_fee_share_bps";
    bytes32 public constant VALIDATOR_FEE_SHARE_BPS = "validator_fee_share_bps";
    bytes32 public constant MAX_BATCH_SIZE = "max_batch_size";
    bytes32 public constant MAX_MODEL_PARAMS = "max_model_params";
    bytes32 public constant VALIDATOR_QUORUM_SIZE = "validator_quorum_size";
    bytes32 public constant SETTLEMENT_FREQUENCY = "settlement_frequency";
    bytes32 public constant NODE_EPOCH_LENGTH = "node_epoch_length";
    /// @notice Staking emission per 365-day year, in basis points of bonded stake (NodeRegistry reads it).
    bytes32 public constant EMISSION_RATE_BPS = "emission_rate_bps";
    /// @notice NeuralRoute's scoring weights and thresholds (ax0n.spec.routing), read at each routing snapshot.
    bytes32 public constant ROUTING_WEIGHT_STAKE = "routing_weight_stake";
    bytes32 public constant ROUTING_WEIGHT_UPTIME = "routing_weight_uptime";
    bytes32 public constant ROUTING_WEIGHT_LATENCY = "routing_weight_latency";
    bytes32 public constant ROUTING_LATENCY_REF_MS = "routing_latency_ref_ms";
    bytes32 public constant ROUTING_MIN_UPTIME_BPS = "routing_min_uptime_bps";
    /// @notice Slashing ratios per fault class, in basis points of the offender's bonded plus unbonding stake.
    bytes32 public constant SLASH_ZK_OUTPUT_BPS = "slash_zk_output_bps";
    bytes32 public constant SLASH_EQUIVOCATION_BPS = "slash_equivocation_bps";
    bytes32 public constant SLASH_QUORUM_FAULT_BPS = "slash_quorum_fault_bps";
    bytes32 public constant SLASH_UNAUTHORIZED_DEBIT_BPS = "slash_unauthorized_debit_bps";
    /// @notice The challenger's share of every slash, in basis points (the rest goes to the treasury).
    bytes32 public constant CHALLENGER_REWARD_BPS = "challenger_reward_bps";

    mapping(bytes32 name => uint256) private _values;
    mapping(bytes32 name => bool) public known;
    mapping(bytes32 name => bool) private _present;

    error UnknownParam(bytes32 name);
    error MissingParam(bytes32 name);
    error LengthMismatch(uint256 names, uint256 values);
    /// @notice `name` = `value` breaks an invariant of the table (the reason is the invariant's name).
    error InvalidParam(bytes32 name, uint256 value, string reason);

    event ParamSet(bytes32 indexed name, uint256 value);

    /// @param owner_ The timelock (or the deployer, who hands ownership to the timelock).
    /// @param names Parameter names: every name constant above, once.
    /// @param values Initial values, index-aligned with `names`.
    constructor(address owner_, bytes32[] memory names, uint256[] memory values) Ownable(owner_) {
        if (names.length != values.length) revert LengthMismatch(names.length, values.length);
        bytes32[21] memory all = _names();
        for (uint256 i; i < all.length; ++i) {
            known[all[i]] = true;
        }
        _setAll(names, values);
        for (uint256 i; i < all.length; ++i) {
            if (!_present[all[i]]) revert MissingParam(all[i]);
        }
    }

    /// @notice The current value of parameter `name`; reverts for an unknown name.
    function get(bytes32 name) external view returns (uint256) {
        if (!known[name]) revert UnknownParam(name);
        return _values[name];
    }

    /// @notice Change parameter `name` (owner, i.e. the timelock, only); the table must stay consistent.
    function set(bytes32 name, uint256 value) external onlyOwner {
        bytes32[] memory names = new bytes32[](1);
        uint256[] memory values = new uint256[](1);
        (names[0], values[0]) = (name, value);
        _setAll(names, values);
    }

    /// @notice Change several parameters at once (owner only): the invariants are checked after all of them,
    ///         so a proposal can move related values together (e.g. slash_window and node_epoch_length).
    function setMany(bytes32[] calldata names, uint256[] calldata values) external onlyOwner {
        if (names.length != values.length) revert LengthMismatch(names.length, values.length);
        _setAll(names, values);
    }

    function _setAll(bytes32[] memory names, uint256[] memory values) private {
        for (uint256 i; i < names.length; ++i) {
            if (!known[names[i]]) revert UnknownParam(names[i]);
            _values[names[i]] = values[i];
            _present[names[i]] = true;
            emit ParamSet(names[i], values[i]);
        }
        for (uint256 i; i < names.length; ++i) {
            _check(names[i], values[i]);
        }
    }

    /// @dev The invariants `name`'s new value takes part in (ax0n.spec.params.violations), once the whole table
    ///      is present.
    function _check(bytes32 name, uint256 value) private view {
        if (_isRate(name) && value > BPS) revert InvalidParam(name, value, "rate above 100%");
        if (_isPositive(name) && value == 0) revert InvalidParam(name, value, "must be positive");
        if (name == OPERATOR_FEE_SHARE_BPS || name == VALIDATOR_FEE_SHARE_BPS) {
            if (_values[OPERATOR_FEE_SHARE_BPS] + _values[VALIDATOR_FEE_SHARE_BPS] > BPS) {
                revert InvalidParam(name, value, "fee shares above 100%");
            }
        }
        if (name == NODE_EPOCH_LENGTH || name == SETTLEMENT_FREQUENCY || name == SLASH_WINDOW) {
            bool complete = _present[NODE_EPOCH_LENGTH] && _present[SETTLEMENT_FREQUENCY] && _present[SLASH_WINDOW];
            if (complete && _values[NODE_EPOCH_LENGTH] < _values[SETTLEMENT_FREQUENCY] + _values[SLASH_WINDOW]) {
                revert InvalidParam(name, value, "unbonding shorter than settlement plus challenge window");
            }
        }
        if (name == ROUTING_WEIGHT_STAKE || name == ROUTING_WEIGHT_UPTIME || name == ROUTING_WEIGHT_LATENCY) {
            bool complete =
                _present[ROUTING_WEIGHT_STAKE] && _present[ROUTING_WEIGHT_UPTIME] && _present[ROUTING_WEIGHT_LATENCY];
            uint256 sum =
                _values[ROUTING_WEIGHT_STAKE] + _values[ROUTING_WEIGHT_UPTIME] + _values[ROUTING_WEIGHT_LATENCY];
            if (complete && sum == 0) revert InvalidParam(name, value, "routing weights all zero");
        }
    }

    function _isRate(bytes32 name) private pure returns (bool) {
        return name == BASE_FEE_RATE_BPS || name == EMISSION_RATE_BPS || name == ROUTING_MIN_UPTIME_BPS
            || name == CHALLENGER_REWARD_BPS || name == SLASH_ZK_OUTPUT_BPS || name == SLASH_EQUIVOCATION_BPS
            || name == SLASH_QUORUM_FAULT_BPS || name == SLASH_UNAUTHORIZED_DEBIT_BPS || name == OPERATOR_FEE_SHARE_BPS
            || name == VALIDATOR_FEE_SHARE_BPS;
    }

    function _isPositive(bytes32 name) private pure returns (bool) {
        return name == SLASH_WINDOW || name == MAX_BATCH_SIZE || name == VALIDATOR_QUORUM_SIZE
            || name == SETTLEMENT_FREQUENCY || name == ROUTING_LATENCY_REF_MS;
    }

    function _names() private pure returns (bytes32[21] memory) {
        return [
            MIN_NODE_STAKE,
            SLASH_WINDOW,
            BASE_FEE_RATE_BPS,
            OPERATOR_FEE_SHARE_BPS,
            VALIDATOR_FEE_SHARE_BPS,
            MAX_BATCH_SIZE,
            MAX_MODEL_PARAMS,
            VALIDATOR_QUORUM_SIZE,
            SETTLEMENT_FREQUENCY,
            NODE_EPOCH_LENGTH,
            EMISSION_RATE_BPS,
            ROUTING_WEIGHT_STAKE,
            ROUTING_WEIGHT_UPTIME,
            ROUTING_WEIGHT_LATENCY,
            ROUTING_LATENCY_REF_MS,
            ROUTING_MIN_UPTIME_BPS,
            SLASH_ZK_OUTPUT_BPS,
            SLASH_EQUIVOCATION_BPS,
            SLASH_QUORUM_FAULT_BPS,
            SLASH_UNAUTHORIZED_DEBIT_BPS,
            CHALLENGER_REWARD_BPS
        ];
    }
}
