// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BatchLedger} from "./BatchLedger.sol";
import {ProtocolParams} from "./ProtocolParams.sol";
import {ISettledBatches} from "./interfaces/ISettledBatches.sol";
import {IStakeRegistry} from "./interfaces/IStakeRegistry.sol";
import {BatchLeaves} from "./libraries/BatchLeaves.sol";

/// @title OptimisticSettlement
/// @notice BatchLedger's batches with their fraud proofs. Until its challenge deadline (slash_window blocks after
///         its settlement block) anyone holding the batch's public data can void a batch in one transaction by
///         showing, with Merkle proofs against its roots, one of BatchLeaves' faults: a leaf its client did not
///         sign or that charges over the signed fee cap, a wrong running total or chain link, two leaves or entries
///         that cannot both stand, a leaf replaying a request an earlier batch settled. A voided batch pays no one,
///         its applied debits are refunded (refundDebit), and every signer of its certificate is slashed
///         slash_unauthorized_debit_bps of its stake at the reference block (slashSigners), challenger_reward_bps
///         of it to the committed beneficiary.
contract OptimisticSettlement is BatchLedger, ISettledBatches {
    using BatchLeaves for BatchLeaves.Leaf;

    /// @notice The block each challenge commitment (challengeCommitment(key, beneficiary)) was first made in.
    mapping(bytes32 commitment => uint256 blockNumber) public challengeCommitments;
    /// @notice Who is rewarded from the slashes of voided batch `batchId`.
    mapping(uint64 batchId => address) public voidedBy;
    mapping(uint64 batchId => mapping(address validator => bool)) public signerSlashed;
    /// @notice The receipt-challenge contract (ReceiptChallenges) allowed to slash operators; set once.
    address public challenges;
    address private immutable _deployer;

    error ChallengeWindowClosed(uint256 deadline);
    error NotFraud();
    error NotCommitted(bytes32 commitment);
    error NotVoidedBatch(uint64 batchId);
    error OnlyChallenges();
    error ChallengesSet();

    event ChallengeCommitted(bytes32 indexed commitment, address indexed committer);
    event BatchVoidedByFraud(uint64 indexed batchId, bytes32 indexed key, address indexed beneficiary);
    event SignerSlashed(uint64 indexed batchId, address indexed validator, uint256 slashed, uint256 reward);

    constructor(IERC20 token_, IStakeRegistry nodes_, ProtocolParams params_, address treasury_, address requestDomain_)
        BatchLedger(token_, nodes_, params_, treasury_, requestDomain_)
    {
        _deployer = msg.sender;
    }

    /// @notice Bind the receipt-challenge contract (once, by the deployer).
    function setChallenges(address challenges_) external {
        if (msg.sender != _deployer) revert OnlyChallenges();
        if (challenges != address(0)) revert ChallengesSet();
        challenges = challenges_;
    }

    function settledLeaves(uint64 batchId) external view returns (bytes32, uint64) {
        Batch storage b = _batches[batchId];
        return (b.leafRoot, b.settledAt);
    }

    function slashOperator(address operator, uint256 amount, address beneficiary)
        external
        returns (uint256 slashed, uint256 reward)
    {
        if (msg.sender != challenges) revert OnlyChallenges();
        slashed = nodes.slash(operator, amount);
        reward = slashed * params.get(params.CHALLENGER_REWARD_BPS()) / BPS;
        _credit(beneficiary, reward);
        _credit(treasury, slashed - reward);
    }

    /// @notice Commit to a challenge before revealing it: challengeCommitment(key, beneficiary), where key is
    ///         challengeKey(batchId, the hash of the first leaf or entry of the evidence). A copy of the revealed
    ///         evidence pays its committed beneficiary only.
    function commitChallenge(bytes32 commitment) external {
        if (challengeCommitments[commitment] == 0) challengeCommitments[commitment] = block.number;
        emit ChallengeCommitted(commitment, msg.sender);
    }

    function challengeKey(uint64 batchId, bytes32 evidence) public pure returns (bytes32) {
        return keccak256(abi.encode(batchId, evidence));
    }

    function challengeCommitment(bytes32 key, address beneficiary) public pure returns (bytes32) {
        return keccak256(abi.encode(key, beneficiary));
    }

    /// @notice A leaf whose own fields are a fault (BatchLeaves.leafFault): unauthorized debit, index past the
    ///         count, a chain that points forward or starts with a wrong total.
    function challengeLeaf(uint64 batchId, BatchLeaves.Leaf calldata l, bytes32[] calldata proof, address beneficiary)
        external
    {
        Batch storage b = _leaf(batchId, l, proof);
        if (!l.leafFault(_totals(b), requestDomain)) revert NotFraud();
        _void(batchId, l.leafHash(), beneficiary);
    }

    /// @notice A leaf charging more than the fee cap of the request `r` its signature covers.
    function challengeOvercharge(
        uint64 batchId,
        BatchLeaves.Leaf calldata l,
        bytes32[] calldata proof,
        BatchLeaves.Request calldata r,
        address beneficiary
    ) external {
        _leaf(batchId, l, proof);
        if (!BatchLeaves.overcharged(l, r)) revert NotFraud();
        _void(batchId, l.leafHash(), beneficiary);
    }

    /// @notice A leaf and the predecessor it names on `side` that do not add up (BatchLeaves.linkFault).
    function challengeLink(
        uint64 batchId,
        BatchLeaves.Side side,
        BatchLeaves.Leaf calldata l,
        bytes32[] calldata proof,
        BatchLeaves.Leaf calldata p,
        bytes32[] calldata prevProof,
        address beneficiary
    ) external {
        Batch storage b = _leaf(batchId, l, proof);
        _leaf(batchId, p, prevProof);
        if (!BatchLeaves.linkFault(l, p, side, b.operatorBps)) revert NotFraud();
        _void(batchId, l.leafHash(), beneficiary);
    }

    /// @notice Two leaves of one batch that cannot both stand (BatchLeaves.pairFault).
    function challengeLeafPair(
        uint64 batchId,
        BatchLeaves.Leaf calldata l,
        bytes32[] calldata proof,
        BatchLeaves.Leaf calldata other,
        bytes32[] calldata otherProof,
        address beneficiary
    ) external {
        _leaf(batchId, l, proof);
        _leaf(batchId, other, otherProof);
        if (!BatchLeaves.pairFault(l, other)) revert NotFraud();
        _void(batchId, l.leafHash(), beneficiary);
    }

    /// @notice A leaf debiting a request that unvoided earlier batch `earlierId` already settled.
    function challengeReplay(
        uint64 batchId,
        BatchLeaves.Leaf calldata l,
        bytes32[] calldata proof,
        uint64 earlierId,
        BatchLeaves.Leaf calldata earlier,
        bytes32[] calldata earlierProof,
        address beneficiary
    ) external {
        _leaf(batchId, l, proof);
        _leaf(earlierId, earlier, earlierProof);
        if (earlierId >= batchId || _batches[earlierId].voided) revert NotFraud();
        if (l.requestHash != earlier.requestHash || l.client != earlier.client) revert NotFraud();
        _void(batchId, l.leafHash(), beneficiary);
    }

    /// @notice A leaf and an account entry that disagree on `side` (BatchLeaves.entryFault).
    function challengeEntry(
        uint64 batchId,
        BatchLeaves.Side side,
        BatchLeaves.Leaf calldata l,
        bytes32[] calldata proof,
        BatchLeaves.Account calldata a,
        bytes32[] calldata accountProof,
        address beneficiary
    ) external {
        Batch storage b = _leaf(batchId, l, proof);
        _checkAccount(b, a, accountProof);
        if (!BatchLeaves.entryFault(l, a, side)) revert NotFraud();
        _void(batchId, l.leafHash(), beneficiary);
    }

    /// @notice An account entry whose own fields are a fault (BatchLeaves.accountFault).
    function challengeAccount(
        uint64 batchId,
        BatchLeaves.Account calldata a,
        bytes32[] calldata proof,
        address beneficiary
    ) external {
        Batch storage b = _batch(batchId);
        _checkAccount(b, a, proof);
        if (!BatchLeaves.accountFault(a, _totals(b))) revert NotFraud();
        _void(batchId, BatchLeaves.accountHash(a), beneficiary);
    }

    /// @notice Two account entries that cannot both stand (BatchLeaves.accountPairFault).
    function challengeAccountPair(
        uint64 batchId,
        BatchLeaves.Account calldata a,
        bytes32[] calldata proof,
        BatchLeaves.Account calldata other,
        bytes32[] calldata otherProof,
        address beneficiary
    ) external {
        Batch storage b = _batch(batchId);
        _checkAccount(b, a, proof);
        _checkAccount(b, other, otherProof);
        if (!BatchLeaves.accountPairFault(a, other)) revert NotFraud();
        _void(batchId, BatchLeaves.accountHash(a), beneficiary);
    }

    /// @notice Slash the signers of voided batch `batchId` among validatorAt(from..to-1) (in chunks, so any
    ///         validator count fits a block): each counted at the reference block and not in `nonSigners` (the
    ///         certificate's list) loses slash_unauthorized_debit_bps of that stake, challenger_reward_bps of it
    ///         credited to the batch's challenger and the rest to the treasury.
    function slashSigners(uint64 batchId, address[] calldata nonSigners, uint256 from, uint256 to) external {
        Batch storage b = _batches[batchId];
        if (!b.voided) revert NotVoidedBatch(batchId);
        if (keccak256(abi.encode(nonSigners)) != b.nonSigners) revert NonSignersMismatch();
        uint256 ratio = params.get(params.SLASH_UNAUTHORIZED_DEBIT_BPS());
        uint256 rewardBps = params.get(params.CHALLENGER_REWARD_BPS());
        for (uint256 i = from; i < to; ++i) {
            address v = nodes.validatorAt(i);
            uint256 stake = _signerStake(b, v, nonSigners);
            if (stake == 0 || signerSlashed[batchId][v]) continue;
            signerSlashed[batchId][v] = true;
            uint256 slashed = nodes.slash(v, stake * ratio / BPS);
            uint256 reward = slashed * rewardBps / BPS;
            _credit(voidedBy[batchId], reward);
            _credit(treasury, slashed - reward);
            emit SignerSlashed(batchId, v, slashed, reward);
        }
    }

    function _batch(uint64 batchId) private view returns (Batch storage b) {
        b = _batches[batchId];
        if (b.settledAt == 0) revert UnknownBatch(batchId);
    }

    function _leaf(uint64 batchId, BatchLeaves.Leaf calldata l, bytes32[] calldata proof)
        private
        view
        returns (Batch storage b)
    {
        b = _batch(batchId);
        if (!MerkleProof.verifyCalldata(proof, b.leafRoot, l.leafHash())) revert InvalidProof();
    }

    function _totals(Batch storage b) private view returns (BatchLeaves.Totals memory) {
        return BatchLeaves.Totals(b.count, b.accounts, b.feeTotal, b.operatorTotal, b.operatorBps);
    }

    /// @dev Void `batchId` if it is still open and `beneficiary` committed to this evidence in an earlier block.
    function _void(uint64 batchId, bytes32 evidence, address beneficiary) private {
        Batch storage b = _batches[batchId];
        if (b.voided) revert BatchVoided(batchId);
        uint256 deadline = challengeDeadline(batchId);
        if (block.number > deadline) revert ChallengeWindowClosed(deadline);
        bytes32 key = challengeKey(batchId, evidence);
        bytes32 commitment = challengeCommitment(key, beneficiary);
        uint256 committedAt = challengeCommitments[commitment];
        if (committedAt == 0 || committedAt >= block.number) revert NotCommitted(commitment);
        b.voided = true;
        voidedBy[batchId] = beneficiary;
        emit BatchVoidedByFraud(batchId, key, beneficiary);
    }
}
