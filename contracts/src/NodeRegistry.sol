// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {BLS} from "./BLS.sol";
import {ProtocolParams} from "./ProtocolParams.sol";

/// @title NodeRegistry
/// @notice Executor nodes bond stake (≥ min_node_stake), declare served models, endpoint and signing key;
///         unbonding takes node_epoch_length blocks; only Settlement can slash.
contract NodeRegistry {
    using SafeERC20 for IERC20;

    struct Node {
        uint256 stake;
        uint256 unbonding;
        uint64 unbondableAt;
        address signingKey;
        string endpoint;
        bytes32[] modelIds;
        bool registered;
    }

    IERC20 public immutable token;
    ProtocolParams public immutable params;
    address public immutable deployer;
    address public settlement;

    mapping(address operator => Node) private _nodes;
    /// @notice A validator's BLS12-381 public key (EIP-2537 uncompressed G1 encoding, 128 bytes).
    mapping(address validator => bytes) public blsKey;
    /// @notice How many validator keys are registered.
    uint256 public validatorCount;
    /// @notice Bonded plus unbonding stake held for all nodes.
    uint256 public totalStake;
    uint256 public totalDeposited;
    uint256 public totalWithdrawn;
    uint256 public totalSlashed;

    error AlreadyRegistered(address operator);
    error NotRegistered(address operator);
    error StakeTooLow(uint256 stake, uint256 minimum);
    error ZeroAmount();
    error ZeroSigningKey();
    error InsufficientStake(uint256 stake, uint256 requested);
    error StillUnbonding(uint64 unbondableAt);
    error NothingToWithdraw();
    error OnlySettlement();
    error SettlementAlreadySet();
    error OnlyDeployer();
    error ValidatorKeySet(address validator);
    error InvalidProofOfPossession();
    error NoBlsKey(address validator);
    error NoSigners();

    event NodeRegistered(address indexed operator, uint256 stake, address signingKey, string endpoint, bytes32[] modelIds);
    event StakeAdded(address indexed operator, uint256 amount);
    event UnbondRequested(address indexed operator, uint256 amount, uint64 unbondableAt);
    event StakeWithdrawn(address indexed operator, uint256 amount);
    event Slashed(address indexed operator, uint256 amount);
    event ValidatorKeyRegistered(address indexed validator, bytes compressedKey);

    constructor(IERC20 token_, ProtocolParams params_) {
        token = token_;
        params = params_;
        deployer = msg.sender;
    }

    /// @notice Bind the Settlement contract, the only slasher (once, by the deployer).
    function setSettlement(address settlement_) external {
        if (msg.sender != deployer) revert OnlyDeployer();
        if (settlement != address(0)) revert SettlementAlreadySet();
        settlement = settlement_;
    }

    /// @notice Register msg.sender as an executor node, bonding `stake` tokens (approve first).
    function register(uint256 stake, bytes32[] calldata modelIds, string calldata endpoint, address signingKey)
        external
    {
        Node storage n = _nodes[msg.sender];
        if (n.registered) revert AlreadyRegistered(msg.sender);
        if (signingKey == address(0)) revert ZeroSigningKey();
        uint256 minimum = params.get(params.MIN_NODE_STAKE());
        if (stake < minimum) revert StakeTooLow(stake, minimum);
        n.registered = true;
        n.signingKey = signingKey;
        n.endpoint = endpoint;
        n.modelIds = modelIds;
        _deposit(n, stake);
        emit NodeRegistered(msg.sender, stake, signingKey, endpoint, modelIds);
    }

    /// @notice Bond `amount` more tokens.
    function addStake(uint256 amount) external {
        Node storage n = _node(msg.sender);
        if (amount == 0) revert ZeroAmount();
        _deposit(n, amount);
        emit StakeAdded(msg.sender, amount);
    }

    /// @notice Start unbonding `amount`; what remains bonded must be 0 or ≥ min_node_stake.
    function requestUnbond(uint256 amount) external {
        Node storage n = _node(msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (amount > n.stake) revert InsufficientStake(n.stake, amount);
        uint256 remaining = n.stake - amount;
        uint256 minimum = params.get(params.MIN_NODE_STAKE());
        if (remaining != 0 && remaining < minimum) revert StakeTooLow(remaining, minimum);
        n.stake = remaining;
        n.unbonding += amount;
        n.unbondableAt = uint64(block.number + params.get(params.NODE_EPOCH_LENGTH()));
        emit UnbondRequested(msg.sender, amount, n.unbondableAt);
    }

    /// @notice Withdraw all unbonded stake once the unbonding delay has passed.
    function withdrawUnbonded() external {
        Node storage n = _node(msg.sender);
        uint256 amount = n.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.number < n.unbondableAt) revert StillUnbonding(n.unbondableAt);
        n.unbonding = 0;
        totalStake -= amount;
        totalWithdrawn += amount;
        token.safeTransfer(msg.sender, amount);
        emit StakeWithdrawn(msg.sender, amount);
    }

    /// @notice Slash up to `amount` of `operator`'s stake (bonded first, then unbonding) to Settlement.
    /// @return slashed The amount actually taken.
    function slash(address operator, uint256 amount) external returns (uint256 slashed) {
        if (msg.sender != settlement) revert OnlySettlement();
        Node storage n = _node(operator);
        uint256 fromStake = amount < n.stake ? amount : n.stake;
        n.stake -= fromStake;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < n.unbonding ? rest : n.unbonding;
        n.unbonding -= fromUnbonding;
        slashed = fromStake + fromUnbonding;
        totalStake -= slashed;
        totalSlashed += slashed;
        if (slashed > 0) token.safeTransfer(settlement, slashed);
        emit Slashed(operator, slashed);
    }

    /// @notice Register msg.sender's (a staked node's) BLS validator key, checked by its proof of possession.
    /// @param pubkey Uncompressed G1 public key (128 bytes, EIP-2537 encoding).
    /// @param pop The PoP signature over the compressed key (uncompressed G2, 256 bytes).
    function registerValidatorKey(bytes calldata pubkey, bytes calldata pop) external {
        _node(msg.sender);
        if (blsKey[msg.sender].length != 0) revert ValidatorKeySet(msg.sender);
        if (!BLS.verifyPossession(pubkey, pop)) revert InvalidProofOfPossession();
        blsKey[msg.sender] = pubkey;
        ++validatorCount;
        emit ValidatorKeyRegistered(msg.sender, BLS.compressG1(pubkey));
    }

    /// @notice Fast-aggregate-verify: `signature` is the aggregate of `signers`' signatures over `message`.
    function verifyAggregate(address[] calldata signers, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        if (signers.length == 0) revert NoSigners();
        bytes memory aggregate = _key(signers[0]);
        for (uint256 i = 1; i < signers.length; ++i) {
            aggregate = BLS.addG1(aggregate, _key(signers[i]));
        }
        return BLS.verify(aggregate, message, signature, BLS.SIG_DST);
    }

    function _key(address validator) private view returns (bytes memory key) {
        key = blsKey[validator];
        if (key.length == 0) revert NoBlsKey(validator);
    }

    /// @notice True when `operator` is registered with at least min_node_stake bonded.
    function isActive(address operator) external view returns (bool) {
        Node storage n = _nodes[operator];
        return n.registered && n.stake >= params.get(params.MIN_NODE_STAKE());
    }

    /// @notice The node record of `operator`.
    function node(address operator) external view returns (Node memory) {
        return _nodes[operator];
    }

    function _node(address operator) private view returns (Node storage n) {
        n = _nodes[operator];
        if (!n.registered) revert NotRegistered(operator);
    }

    function _deposit(Node storage n, uint256 amount) private {
        n.stake += amount;
        totalStake += amount;
        totalDeposited += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
    }
}
