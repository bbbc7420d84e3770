// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {BLS} from "./BLS.sol";
import {ProtocolParams} from "./ProtocolParams.sol";

/// @title NodeRegistry
/// @notice Executor nodes bond stake (≥ min_node_stake), declare served models, endpoint, signing key and the
///         executor cluster whose request stream they consume; unbonding takes node_epoch_length blocks; only
///         Settlement can slash. Every operator ever registered and every validator key are enumerable
///         (`operatorAt`, `validatorAt`), so the routing snapshot at any block is read from here alone. Bonded stake earns the staking
///         emission (ProtocolParams emission_rate_bps per 365-day year, 2.1 % by default), paid by pull
///         (`claimRewards`) from a reward pool funded with `fundRewards`.
/// @dev Emission is a reward-per-token index: it grows by rate · Δt / YEAR per bonded token (block.timestamp),
///      and each node's reward is settled against it whenever its bonded stake changes (register, addStake,
///      requestUnbond, slash) or it claims, so every action is O(1). Unbonding stake does not earn.
///
///      Stake certificates (EigenLayer BLSSignatureChecker style): a validator (a node with a registered BLS key)
///      counts while its bonded stake is > 0. The registry checkpoints by block each validator's counted stake,
///      the total, and the aggregate public key of every counted validator; a key joins the aggregate when its
///      validator registers it with stake or bonds again, and leaves it when bonded stake reaches 0 (full unbond or
///      slash). `checkCertificate` takes a reference block and the non-signers, subtracts their keys from that
///      block's aggregate and their stake from its total, and runs one pairing check: O(non-signers), not
///      O(validators).
contract NodeRegistry {
    using Checkpoints for Checkpoints.Trace208;
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice The emission year: 365 days of block.timestamp seconds (emission_rate_bps is per such year).
    uint256 public constant YEAR = 365 days;
    uint256 internal constant BPS = 10_000;
    /// @notice Fixed-point scale of `rewardPerToken` (1e27 = one reward token per bonded token), so flooring the
    ///         index at each update costs a node less than 1 wei per update for any stake below the total supply.
    uint256 public constant INDEX_SCALE = 1e27;
    /// @notice The longest cluster name, in bytes (it names the Redis stream `ax0n:req:{cluster}`).
    uint256 public constant MAX_CLUSTER_LENGTH = 64;
    /// @notice The longest endpoint, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;
    /// @notice Domain tag of a signing key's proof of possession (signingKeyMessage).
    bytes32 public constant SIGNING_KEY_TAG = "ax0n/signing-key/v1";

    /// @dev Fields after `registered` were appended later (readers destructure the leading ones by position);
    ///      `registeredAt` shares `registered`'s storage slot.
    struct Node {
        uint256 stake;
        uint256 unbonding;
        uint64 unbondableAt;
        address signingKey;
        string endpoint;
        bytes32[] modelIds;
        bool registered;
        /// @dev The block the node registered in.
        uint64 registeredAt;
        /// @dev The executor cluster: 1..MAX_CLUSTER_LENGTH bytes of [0-9A-Za-z._-].
        string cluster;
    }

    /// @dev The global reward index, when it was last advanced, and the rate it advances at (one slot).
    struct Emission {
        uint128 rewardPerToken;
        uint48 updatedAt;
        uint16 rateBps;
    }

    /// @dev A node's reward index at its last settlement and what it had earned by then, unclaimed (one slot).
    struct Rewards {
        uint128 paidIndex;
        uint128 owed;
    }

    IERC20 public immutable token;
    ProtocolParams public immutable params;
    address public immutable deployer;
    address public settlement;

    mapping(address operator => Node) private _nodes;
    /// @dev Every operator ever registered, in registration order (never removed).
    address[] private _operators;
    /// @notice A validator's BLS12-381 public key (EIP-2537 uncompressed G1 encoding, 128 bytes).
    mapping(address validator => bytes) public blsKey;
    /// @dev Every address with a registered validator key, in registration order (keys are never removed).
    address[] private _validators;
    /// @notice The operator a receipt signing key belongs to (each key serves one operator, for good).
    mapping(address signingKey => address operator) public operatorOfSigningKey;
    /// @notice Bonded plus unbonding stake held for all nodes.
    uint256 public totalStake;
    uint256 public totalDeposited;
    uint256 public totalWithdrawn;
    uint256 public totalSlashed;
    /// @notice Tokens funded for emission and not yet claimed (held here apart from stake).
    uint256 public rewardPool;

    Emission private _emission;
    mapping(address operator => Rewards) private _rewards;

    /// @dev Per validator, its stake counted in the aggregate (bonded stake while its key is registered, else 0).
    mapping(address validator => Checkpoints.Trace208) private _validatorStake;
    /// @dev The sum of every validator's counted stake.
    Checkpoints.Trace208 private _totalValidatorStake;
    /// @dev 1 + the index into `_aggregateKeys` of the aggregate in force (0: none yet, the point at infinity).
    Checkpoints.Trace208 private _aggregateIndex;
    /// @dev Every aggregate public key the validator set has had (EIP-2537 G1), oldest first.
    bytes[] private _aggregateKeys;

    error AlreadyRegistered(address operator);
    error NotRegistered(address operator);
    error StakeTooLow(uint256 stake, uint256 minimum);
    error ZeroAmount();
    error ZeroSigningKey();
    error InvalidSigningKeyProof(address signingKey);
    error SigningKeyTaken(address signingKey, address operator);
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
    error NothingToClaim();
    error RewardPoolEmpty(uint256 owed);
    error InvalidClusterLength(uint256 length, uint256 maxLength);
    error InvalidClusterCharacter(uint256 index);
    error InvalidEndpointLength(uint256 length, uint256 maxLength);
    error InvalidEndpointCharacter(uint256 index);
    error IndexOutOfRange(uint256 index, uint256 count);
    error ReferenceBlockNotPast(uint256 referenceBlock, uint256 currentBlock);
    error ReferenceBlockTooOld(uint256 referenceBlock, uint256 oldestAllowed);
    error NonSignersNotAscending(uint256 index);
    error NotCountedAtReference(address validator, uint256 referenceBlock);
    error InsufficientSignedStake(uint256 signedStake, uint256 totalStake);
    error InvalidAggregateSignature();

    event NodeRegistered(
        address indexed operator, uint256 stake, address signingKey, string endpoint, bytes32[] modelIds, string cluster
    );
    event ClusterChanged(address indexed operator, string cluster);
    event StakeAdded(address indexed operator, uint256 amount);
    event UnbondRequested(address indexed operator, uint256 amount, uint64 unbondableAt);
    event StakeWithdrawn(address indexed operator, uint256 amount);
    event Slashed(address indexed operator, uint256 amount);
    event ValidatorKeyRegistered(address indexed validator, bytes compressedKey);
    event RewardsFunded(address indexed funder, uint256 amount);
    /// @param stillOwed What the pool could not cover; it stays owed to `operator`.
    event RewardsClaimed(address indexed operator, uint256 amount, uint256 stillOwed);
    event EmissionRateChanged(uint256 rateBps);
    /// @notice `validator`'s stake counted in the aggregate changed to `stake` (0: its key left the aggregate).
    event ValidatorStakeUpdated(address indexed validator, uint256 stake);

    constructor(IERC20 token_, ProtocolParams params_) {
        token = token_;
        params = params_;
        deployer = msg.sender;
        uint256 rate = params_.get(params_.EMISSION_RATE_BPS());
        _emission = Emission(0, uint48(block.timestamp), rate.toUint16());
        emit EmissionRateChanged(rate);
    }

    /// @notice Bind the Settlement contract, the only slasher (once, by the deployer).
    function setSettlement(address settlement_) external {
        if (msg.sender != deployer) revert OnlyDeployer();
        if (settlement != address(0)) revert SettlementAlreadySet();
        settlement = settlement_;
    }

    /// @notice Register msg.sender as an executor node, bonding `stake` tokens (approve first).
    /// @param modelIds ModelRegistry ids of the models the node serves.
    /// @param endpoint The node's public endpoint: 1 to MAX_ENDPOINT_LENGTH bytes of printable ASCII without spaces
    ///        (reverts InvalidEndpointLength / InvalidEndpointCharacter), so every registry reader can decode it.
    /// @param signingKey The address whose signatures on receipts are this node's; one operator's only, ever
    ///        (reverts SigningKeyTaken), so no one can register a victim's key and make its receipts unattributable.
    /// @param cluster The executor cluster the node consumes requests for (`ax0n:req:{cluster}`): 1 to
    ///        MAX_CLUSTER_LENGTH bytes of [0-9A-Za-z._-] (reverts InvalidClusterLength / InvalidClusterCharacter).
    /// @param signingKeyProof The signing key's 65-byte EIP-191 signature over signingKeyMessage(msg.sender),
    ///        proving the operator holds the key (reverts InvalidSigningKeyProof).
    function register(
        uint256 stake,
        bytes32[] calldata modelIds,
        string calldata endpoint,
        address signingKey,
        string calldata cluster,
        bytes calldata signingKeyProof
    ) external {
        if (_nodes[msg.sender].registered) revert AlreadyRegistered(msg.sender);
        _bindSigningKey(signingKey, signingKeyProof);
        _register(stake, modelIds, endpoint, signingKey, cluster);
    }

    function _register(
        uint256 stake,
        bytes32[] calldata modelIds,
        string calldata endpoint,
        address signingKey,
        string calldata cluster
    ) private {
        Node storage n = _nodes[msg.sender];
        _checkCluster(cluster);
        _checkEndpoint(endpoint);
        uint256 minimum = params.get(params.MIN_NODE_STAKE());
        if (stake < minimum) revert StakeTooLow(stake, minimum);
        n.registered = true;
        n.registeredAt = uint64(block.number);
        n.signingKey = signingKey;
        n.endpoint = endpoint;
        n.modelIds = modelIds;
        n.cluster = cluster;
        _operators.push(msg.sender);
        _deposit(n, stake);
        emit NodeRegistered(msg.sender, stake, signingKey, endpoint, modelIds, cluster);
    }

    /// @notice What a receipt signing key signs (EIP-191 personal message) to be registered by `operator`:
    ///         keccak256(abi.encode(SIGNING_KEY_TAG, operator, chain id, this registry)), so a proof is good for
    ///         one operator on one registry of one chain (ax0n.chain.registration.signing_key_proof).
    function signingKeyMessage(address operator) public view returns (bytes32) {
        return keccak256(abi.encode(SIGNING_KEY_TAG, operator, block.chainid, address(this)));
    }

    /// @notice Move msg.sender's (a registered node's) executor cluster to `cluster` (same rules as `register`);
    ///         routing snapshots taken from the next block on send its requests to `ax0n:req:{cluster}`.
    function setCluster(string calldata cluster) external {
        Node storage n = _node(msg.sender);
        _checkCluster(cluster);
        n.cluster = cluster;
        emit ClusterChanged(msg.sender, cluster);
    }

    /// @notice How many operators have ever registered (slashed, unbonded and inactive ones included).
    function operatorCount() external view returns (uint256) {
        return _operators.length;
    }

    /// @notice The `index`-th operator to register (0-based, registration order); `isActive` says whether it
    ///         is active now. Reverts IndexOutOfRange when `index` ≥ operatorCount().
    function operatorAt(uint256 index) external view returns (address) {
        if (index >= _operators.length) revert IndexOutOfRange(index, _operators.length);
        return _operators[index];
    }

    /// @notice How many validator keys are registered.
    function validatorCount() external view returns (uint256) {
        return _validators.length;
    }

    /// @notice The `index`-th address to register a validator key (0-based, registration order); its key is
    ///         `blsKey(address)` and its stake that of its node record. Reverts IndexOutOfRange when `index` ≥
    ///         validatorCount().
    function validatorAt(uint256 index) external view returns (address) {
        if (index >= _validators.length) revert IndexOutOfRange(index, _validators.length);
        return _validators[index];
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
        _settle(msg.sender, n.stake);
        n.stake = remaining;
        n.unbonding += amount;
        n.unbondableAt = uint64(block.number + params.get(params.NODE_EPOCH_LENGTH()));
        _syncValidator(msg.sender, remaining);
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

    /// @notice Slash up to `amount` of `operator`'s stake (bonded first, then unbonding) to Settlement. The slashed
    ///         bonded stake stops earning emission now; rewards earned before the slash stay owed to the operator.
    /// @return slashed The amount actually taken.
    function slash(address operator, uint256 amount) external returns (uint256 slashed) {
        if (msg.sender != settlement) revert OnlySettlement();
        Node storage n = _node(operator);
        _settle(operator, n.stake);
        uint256 fromStake = amount < n.stake ? amount : n.stake;
        n.stake -= fromStake;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < n.unbonding ? rest : n.unbonding;
        n.unbonding -= fromUnbonding;
        slashed = fromStake + fromUnbonding;
        _syncValidator(operator, n.stake);
        totalStake -= slashed;
        totalSlashed += slashed;
        if (slashed > 0) token.safeTransfer(settlement, slashed);
        emit Slashed(operator, slashed);
    }

    /// @notice Add `amount` tokens (approve first) to the reward pool that emission is paid from; anyone may fund
    ///         it (the node-operator allocation, or the treasury through governance). Tokens sent here by plain
    ///         transfer are not counted.
    function fundRewards(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        rewardPool += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit RewardsFunded(msg.sender, amount);
    }

    /// @notice Pay msg.sender the emission it has earned, as far as the reward pool covers it: it pays
    ///         min(owed, rewardPool) and the rest stays owed for a later claim (RewardsClaimed.stillOwed).
    /// @dev Reverts NothingToClaim when nothing is owed, RewardPoolEmpty(owed) when the pool is empty.
    /// @return paid The amount transferred.
    function claimRewards() external returns (uint256 paid) {
        Rewards storage r = _settle(msg.sender, _nodes[msg.sender].stake);
        uint256 owed = r.owed;
        if (owed == 0) revert NothingToClaim();
        uint256 pool = rewardPool;
        if (pool == 0) revert RewardPoolEmpty(owed);
        paid = owed < pool ? owed : pool;
        r.owed = uint128(owed - paid);
        rewardPool = pool - paid;
        token.safeTransfer(msg.sender, paid);
        emit RewardsClaimed(msg.sender, paid, owed - paid);
    }

    /// @notice Advance the reward index to now and adopt ProtocolParams' current emission_rate_bps. Every stake
    ///         change and claim does this too; a governance change of the rate applies from the next such call,
    ///         so a proposal that changes it should call this in the same operation.
    function checkpointRewards() external {
        _accrue();
    }

    /// @notice Emission earned by `operator` and not yet claimed, up to this block (whether or not the pool
    ///         can pay it).
    function pendingRewards(address operator) external view returns (uint256) {
        Rewards memory r = _rewards[operator];
        return r.owed + _nodes[operator].stake * (rewardPerToken() - r.paidIndex) / INDEX_SCALE;
    }

    /// @notice The reward index now: emission per bonded token since deployment, scaled by INDEX_SCALE.
    function rewardPerToken() public view returns (uint256) {
        return _indexAt(_emission);
    }

    /// @notice The emission rate in force, in basis points per YEAR (ProtocolParams' emission_rate_bps as of the
    ///         last checkpoint).
    function emissionRateBps() external view returns (uint256) {
        return _emission.rateBps;
    }

    /// @notice Register msg.sender's (a staked node's) BLS validator key, checked by its proof of possession.
    /// @param pubkey Uncompressed G1 public key (128 bytes, EIP-2537 encoding).
    /// @param pop The PoP signature over the compressed key (uncompressed G2, 256 bytes).
    function registerValidatorKey(bytes calldata pubkey, bytes calldata pop) external {
        _node(msg.sender);
        if (blsKey[msg.sender].length != 0) revert ValidatorKeySet(msg.sender);
        if (!BLS.verifyPossession(pubkey, pop)) revert InvalidProofOfPossession();
        blsKey[msg.sender] = pubkey;
        _validators.push(msg.sender);
        emit ValidatorKeyRegistered(msg.sender, BLS.compressG1(pubkey));
        _syncValidator(msg.sender, _nodes[msg.sender].stake);
    }

    /// @notice `validator`'s stake counted in the aggregate at the end of block `blockNumber` (0: not in it).
    function validatorStakeAt(address validator, uint256 blockNumber) public view returns (uint256) {
        return _validatorStake[validator].upperLookupRecent(blockNumber.toUint48());
    }

    /// @notice The counted stake of every validator at the end of block `blockNumber`.
    function totalValidatorStakeAt(uint256 blockNumber) public view returns (uint256) {
        return _totalValidatorStake.upperLookupRecent(blockNumber.toUint48());
    }

    /// @notice The aggregate public key (EIP-2537 G1) of the validators counted at the end of block `blockNumber`;
    ///         128 zero bytes (the point at infinity) when none.
    function aggregateKeyAt(uint256 blockNumber) public view returns (bytes memory) {
        uint256 index = _aggregateIndex.upperLookupRecent(blockNumber.toUint48());
        return index == 0 ? new bytes(128) : _aggregateKeys[index - 1];
    }

    /// @notice Check a stake certificate: `signature` is the aggregate BLS signature over `message` of every
    ///         validator counted at the end of `referenceBlock` except `nonSigners` (strictly ascending addresses,
    ///         each counted then), and those signers hold ≥ 2/3 of that block's counted stake. `referenceBlock` is
    ///         before this block and at most node_epoch_length blocks old, so every signer's stake is still held
    ///         here (unbonding takes node_epoch_length blocks) and slashable. Reverts with the reason otherwise.
    /// @return signedStake The signers' stake at `referenceBlock`.
    /// @return totalValidatorStake The counted stake at `referenceBlock`.
    function checkCertificate(
        bytes32 message,
        uint256 referenceBlock,
        address[] calldata nonSigners,
        bytes calldata signature
    ) external view returns (uint256 signedStake, uint256 totalValidatorStake) {
        if (referenceBlock >= block.number) revert ReferenceBlockNotPast(referenceBlock, block.number);
        uint256 maxAge = params.get(params.NODE_EPOCH_LENGTH());
        if (referenceBlock + maxAge < block.number) revert ReferenceBlockTooOld(referenceBlock, block.number - maxAge);
        totalValidatorStake = totalValidatorStakeAt(referenceBlock);
        signedStake = totalValidatorStake;
        bytes memory aggregate = aggregateKeyAt(referenceBlock);
        for (uint256 i; i < nonSigners.length; ++i) {
            address v = nonSigners[i];
            if (i > 0 && v <= nonSigners[i - 1]) revert NonSignersNotAscending(i);
            uint256 stake = validatorStakeAt(v, referenceBlock);
            if (stake == 0) revert NotCountedAtReference(v, referenceBlock);
            signedStake -= stake;
            aggregate = BLS.addG1(aggregate, BLS.negateG1(blsKey[v]));
        }
        if (signedStake == 0 || signedStake * 3 < totalValidatorStake * 2) {
            revert InsufficientSignedStake(signedStake, totalValidatorStake);
        }
        if (!BLS.verify(aggregate, abi.encodePacked(message), signature, BLS.SIG_DST)) {
            revert InvalidAggregateSignature();
        }
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

    /// @dev Bind `signingKey` to msg.sender for good, after checking its proof of possession and that no operator
    ///      holds it yet.
    function _bindSigningKey(address signingKey, bytes calldata proof) private {
        if (signingKey == address(0)) revert ZeroSigningKey();
        address holder = operatorOfSigningKey[signingKey];
        if (holder != address(0)) revert SigningKeyTaken(signingKey, holder);
        bytes32 digest = MessageHashUtils.toEthSignedMessageHash(signingKeyMessage(msg.sender));
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, proof);
        if (err != ECDSA.RecoverError.NoError || recovered != signingKey) revert InvalidSigningKeyProof(signingKey);
        operatorOfSigningKey[signingKey] = msg.sender;
    }

    /// @dev A cluster name is 1..MAX_CLUSTER_LENGTH bytes of [0-9A-Za-z._-]: safe inside a Redis stream name
    ///      (no `:` separator, no `{}` hash tag, no whitespace) and plain ASCII for every reader.
    function _checkCluster(string calldata cluster) private pure {
        bytes calldata b = bytes(cluster);
        if (b.length == 0 || b.length > MAX_CLUSTER_LENGTH) revert InvalidClusterLength(b.length, MAX_CLUSTER_LENGTH);
        for (uint256 i; i < b.length; ++i) {
            bytes1 c = b[i];
            bool ok = (c >= "0" && c <= "9") || (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c == "-" || c == "_"
                || c == ".";
            if (!ok) revert InvalidClusterCharacter(i);
        }
    }

    /// @dev An endpoint is 1..MAX_ENDPOINT_LENGTH bytes in 0x21..0x7e: a string no reader fails to decode.
    function _checkEndpoint(string calldata endpoint) private pure {
        bytes calldata b = bytes(endpoint);
        if (b.length == 0 || b.length > MAX_ENDPOINT_LENGTH) {
            revert InvalidEndpointLength(b.length, MAX_ENDPOINT_LENGTH);
        }
        for (uint256 i; i < b.length; ++i) {
            if (b[i] < 0x21 || b[i] > 0x7e) revert InvalidEndpointCharacter(i);
        }
    }

    /// @dev The index `e` has reached by now at its rate (floored).
    function _indexAt(Emission memory e) private view returns (uint256) {
        return e.rewardPerToken + uint256(e.rateBps) * (block.timestamp - e.updatedAt) * INDEX_SCALE / (BPS * YEAR);
    }

    /// @dev Advance the index to now at the rate in force since the last update, then adopt the current
    ///      emission_rate_bps (so a rate change never applies retroactively).
    function _accrue() private returns (uint256 index) {
        Emission memory e = _emission;
        index = _indexAt(e);
        uint256 rate = params.get(params.EMISSION_RATE_BPS());
        if (e.updatedAt == block.timestamp && e.rateBps == rate) return index;
        _emission = Emission(index.toUint128(), uint48(block.timestamp), rate.toUint16());
        if (rate != e.rateBps) emit EmissionRateChanged(rate);
    }

    /// @dev Credit `operator` what `stake` (its bonded stake until now) earned since its last settlement.
    function _settle(address operator, uint256 stake) private returns (Rewards storage r) {
        uint256 index = _accrue();
        r = _rewards[operator];
        uint256 earned = stake * (index - r.paidIndex) / INDEX_SCALE;
        r.owed = (r.owed + earned).toUint128();
        r.paidIndex = uint128(index);
    }

    /// @dev Record `validator`'s counted stake now: `bonded` when it has a key, else 0. The key joins the aggregate
    ///      when the counted stake becomes non-zero and leaves it when it becomes zero.
    function _syncValidator(address validator, uint256 bonded) private {
        bytes memory key = blsKey[validator];
        if (key.length == 0) return;
        uint48 at = uint48(block.number);
        uint256 before = _validatorStake[validator].latest();
        if (before == bonded) return;
        _validatorStake[validator].push(at, bonded.toUint208());
        _totalValidatorStake.push(at, (_totalValidatorStake.latest() + bonded - before).toUint208());
        if ((before == 0) != (bonded == 0)) {
            bytes memory current = aggregateKeyAt(block.number);
            _aggregateKeys.push(BLS.addG1(current, bonded == 0 ? BLS.negateG1(key) : key));
            _aggregateIndex.push(at, _aggregateKeys.length.toUint208());
        }
        emit ValidatorStakeUpdated(validator, bonded);
    }

    function _deposit(Node storage n, uint256 amount) private {
        _settle(msg.sender, n.stake);
        n.stake += amount;
        _syncValidator(msg.sender, n.stake);
        totalStake += amount;
        totalDeposited += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
    }
}
