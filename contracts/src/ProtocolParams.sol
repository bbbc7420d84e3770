// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ProtocolParams
/// @notice The on-chain mirror of `ax0n.params`: one value per parameter name, owned by the timelock,
///         so a change goes through the governor and the 7-day delay. Names are the Python field names.
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
    /// @notice emission_rate_bps when the constructor's `names` leave it out: 210 bps = 2.1 % a year.
    uint256 public constant DEFAULT_EMISSION_RATE_BPS = 210;

    mapping(bytes32 name => uint256) private _values;
    mapping(bytes32 name => bool) public known;

    error UnknownParam(bytes32 name);
    error InvalidParam(bytes32 name, uint256 value);

    event ParamSet(bytes32 indexed name, uint256 value);

    /// @param owner_ The timelock (or the deployer, who hands ownership to the timelock).
    /// @param names Parameter names (every name constant above must be present, except emission_rate_bps, which
    ///        defaults to DEFAULT_EMISSION_RATE_BPS).
    /// @param values Initial values, index-aligned with `names`.
    constructor(address owner_, bytes32[] memory names, uint256[] memory values) Ownable(owner_) {
        require(names.length == values.length, "length mismatch");
        known[EMISSION_RATE_BPS] = true;
        _set(EMISSION_RATE_BPS, DEFAULT_EMISSION_RATE_BPS);
        for (uint256 i; i < names.length; ++i) {
            known[names[i]] = true;
            _set(names[i], values[i]);
        }
    }

    /// @notice The current value of parameter `name`; reverts for an unknown name.
    function get(bytes32 name) external view returns (uint256) {
        if (!known[name]) revert UnknownParam(name);
        return _values[name];
    }

    /// @notice Change parameter `name` (owner, i.e. the timelock, only).
    function set(bytes32 name, uint256 value) external onlyOwner {
        if (!known[name]) revert UnknownParam(name);
        _set(name, value);
    }

    function _set(bytes32 name, uint256 value) private {
        _values[name] = value;
        bool ok = true;
        if (name == OPERATOR_FEE_SHARE_BPS || name == VALIDATOR_FEE_SHARE_BPS) {
            ok = _values[OPERATOR_FEE_SHARE_BPS] + _values[VALIDATOR_FEE_SHARE_BPS] <= BPS;
        } else if (name == BASE_FEE_RATE_BPS || name == EMISSION_RATE_BPS) {
            ok = value <= BPS;
        } else if (name == MAX_BATCH_SIZE || name == SETTLEMENT_FREQUENCY || name == VALIDATOR_QUORUM_SIZE) {
            ok = value > 0;
        }
        if (!ok) revert InvalidParam(name, value);
        emit ParamSet(name, value);
    }
}
