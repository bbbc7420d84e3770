// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {BatchEscrow} from "./BatchEscrow.sol";
import {ProtocolParams} from "./ProtocolParams.sol";
import {IStakeRegistry} from "./interfaces/IStakeRegistry.sol";
import {BatchLeaves} from "./libraries/BatchLeaves.sol";

/// @title BatchLedger
/// @notice Optimistic batches (docs/contracts.md): submitBatch stores a constant-size header — the keccak roots of
///         the leaves and of the per-account totals, the counts and totals — under a stake certificate, whatever
///         the batch's size. Nothing moves at submission. Debits are applied per client and batch (applyDebits /
///         skipDebit, by anyone, in batch order per client, many clients per call) and credits claimed per account once the batch's
///         challenge window (slash_window blocks from its settlement block) has passed unvoided and every debit
///         is processed. Batches settle in sequence with no per-window cap.
abstract contract BatchLedger is BatchEscrow {
    using BatchLeaves for BatchLeaves.Account;

    uint256 internal constant BPS = 10_000;

    /// @notice What a batch committee signs (its hash, headerHash, under batchSigningRoot).
    struct Header {
        uint64 batchId;
        bytes32 leafRoot;
        bytes32 accountRoot;
        uint32 count;
        uint32 accounts;
        uint128 feeTotal;
        uint128 operatorTotal;
        uint16 operatorBps;
    }

    /// @notice A stake certificate (IStakeRegistry.checkCertificate) over batchSigningRoot(batchId, headerHash).
    struct Certificate {
        uint256 referenceBlock;
        address[] nonSigners;
        bytes signature;
    }

    struct Batch {
        bytes32 leafRoot;
        bytes32 accountRoot;
        uint32 count;
        uint32 accounts;
        uint64 settledAt;
        uint64 referenceBlock;
        uint16 operatorBps;
        uint16 validatorBps;
        bool voided;
        bool feesCollected;
        uint128 feeTotal;
        uint128 operatorTotal;
        uint128 processed;
        uint128 funded;
        uint256 signedStake;
        bytes32 nonSigners;
    }

    IStakeRegistry public immutable nodes;
    address public immutable treasury;
    /// @notice The verifyingContract of the EIP-712 domain clients sign requests for.
    address public immutable requestDomain;

    mapping(uint64 batchId => Batch) internal _batches;
    uint64 internal _lastBatchId;
    /// @notice Bitmaps by entry slot (bit slot % 256 of word slot / 256): debits applied, credits claimed.
    mapping(uint64 batchId => mapping(uint256 word => uint256)) public debitApplied;
    mapping(uint64 batchId => mapping(uint256 word => uint256)) public creditClaimed;
    /// @notice The part of `client`'s debit in batch `batchId` its escrow could not cover.
    mapping(uint64 batchId => mapping(address client => uint256)) public shortfall;
    /// @notice Validator fees of batch `batchId` left for its signers (collectFees), and who claimed.
    mapping(uint64 batchId => uint256) public validatorFees;
    mapping(uint64 batchId => mapping(address validator => bool)) public validatorClaimed;

    error WrongBatchId(uint64 expected, uint64 got);
    error BadBatchSize(uint32 count);
    error NoAccounts();
    error SharesChanged(uint256 headerBps, uint256 currentBps);
    error StaleCertificate(uint256 referenceBlock, uint256 challengeDeadline);
    error SplitExceedsFee(uint256 feeTotal, uint256 operatorTotal, uint256 validatorTotal);
    error UnknownBatch(uint64 batchId);
    error OutOfOrder(address client, uint64 expected, uint64 got);
    error InvalidProof();
    error NotVoided(uint64 batchId);
    error NotAbsent(address client);
    error BatchVoided(uint64 batchId);
    error NotFinal(uint64 batchId, uint256 finalAt);
    error DebitsUnprocessed(uint64 batchId, uint256 processed, uint256 feeTotal);
    error AlreadyClaimed(uint64 batchId, uint32 slot);
    error NonSignersMismatch();
    error NotASigner(uint64 batchId, address validator);

    event BatchSubmitted(
        uint64 indexed batchId,
        bytes32 leafRoot,
        bytes32 accountRoot,
        uint32 count,
        uint32 accounts,
        uint256 feeTotal,
        uint256 operatorTotal,
        uint256 referenceBlock,
        uint256 signedStake
    );
    event DebitApplied(uint64 indexed batchId, address indexed client, uint256 debit, uint256 taken);
    event DebitSkipped(uint64 indexed batchId, address indexed client);
    event CreditClaimed(uint64 indexed batchId, address indexed account, uint256 amount);
    event FeesCollected(uint64 indexed batchId, uint256 validators, uint256 treasury);
    event ValidatorFeesClaimed(uint64 indexed batchId, address indexed validator, uint256 amount);
    event DebitRefunded(uint64 indexed batchId, address indexed client, uint256 amount);

    constructor(IERC20 token_, IStakeRegistry nodes_, ProtocolParams params_, address treasury_, address requestDomain_)
        BatchEscrow(token_, params_)
    {
        nodes = nodes_;
        treasury = treasury_;
        requestDomain = requestDomain_;
    }

    function lastBatchId() public view override returns (uint64) {
        return _lastBatchId;
    }

    /// @notice Whether batch `batchId` was voided by a fraud proof (its header is in its BatchSubmitted event).
    function isVoided(uint64 batchId) external view returns (bool) {
        return _batches[batchId].voided;
    }

    /// @notice keccak256 of the header's ABI encoding without its batch id (which batchSigningRoot binds
    ///         beside it), so a committee member computes it from the receipts alone (ax0n.spec.batch.Header.hash).
    function headerHash(Header calldata h) public pure returns (bytes32) {
        return keccak256(
            abi.encode(h.leafRoot, h.accountRoot, h.count, h.accounts, h.feeTotal, h.operatorTotal, h.operatorBps)
        );
    }

    /// @notice The message a batch committee BLS-signs (ax0n.spec.certificate.batch_signing_root):
    ///         sha256(sha256(batchId ‖ root) ‖ "AXBT" ‖ sha256(chainid)[:28]), here with root = headerHash.
    function batchSigningRoot(uint64 batchId, bytes32 root) public view returns (bytes32) {
        bytes32 domain = bytes32(bytes4("AXBT")) | (sha256(abi.encode(block.chainid)) >> 32);
        return sha256(abi.encodePacked(sha256(abi.encode(uint256(batchId), root)), domain));
    }

    /// @notice Settle batch `h` under certificate `cert`: constant gas, no per-window cap. Checks the sequence, the
    ///         size (1..max_batch_size), the operator share it was built under, that the shares fit the fee total, the
    ///         certificate; stores the header with this block as its settlement block.
    function submitBatch(Header calldata h, Certificate calldata cert) external {
        uint64 expected = _lastBatchId + 1;
        if (h.batchId != expected) revert WrongBatchId(expected, h.batchId);
        if (h.count == 0 || h.count > params.get(params.MAX_BATCH_SIZE())) revert BadBatchSize(h.count);
        if (h.accounts == 0) revert NoAccounts();
        uint256 operatorBps = params.get(params.OPERATOR_FEE_SHARE_BPS());
        // The credits were computed under the header's share: a batch certified before a change is refused here,
        // never voided later (which would slash honest signers).
        if (h.operatorBps != operatorBps) revert SharesChanged(h.operatorBps, operatorBps);
        uint256 validatorBps = params.get(params.VALIDATOR_FEE_SHARE_BPS());
        uint256 validatorTotal = uint256(h.feeTotal) * validatorBps / BPS;
        // Every signer's stake at the reference block must stay slashable through the challenge window: stake
        // whose unbonding starts right after it can leave node_epoch_length blocks later.
        uint256 deadline = block.number + params.get(params.SLASH_WINDOW());
        if (cert.referenceBlock + params.get(params.NODE_EPOCH_LENGTH()) < deadline) {
            revert StaleCertificate(cert.referenceBlock, deadline);
        }
        if (uint256(h.operatorTotal) + validatorTotal > h.feeTotal) {
            revert SplitExceedsFee(h.feeTotal, h.operatorTotal, validatorTotal);
        }
        (uint256 signedStake,) = nodes.checkCertificate(
            batchSigningRoot(h.batchId, headerHash(h)), cert.referenceBlock, cert.nonSigners, cert.signature
        );
        Batch storage b = _batches[h.batchId];
        (b.leafRoot, b.accountRoot, b.count, b.accounts) = (h.leafRoot, h.accountRoot, h.count, h.accounts);
        (b.settledAt, b.referenceBlock) = (uint64(block.number), uint64(cert.referenceBlock));
        (b.operatorBps, b.validatorBps) = (uint16(operatorBps), uint16(validatorBps));
        (b.feeTotal, b.operatorTotal) = (h.feeTotal, h.operatorTotal);
        (b.signedStake, b.nonSigners) = (signedStake, keccak256(abi.encode(cert.nonSigners)));
        _lastBatchId = h.batchId;
        emit BatchSubmitted(
            h.batchId, h.leafRoot, h.accountRoot, h.count, h.accounts, h.feeTotal, h.operatorTotal,
            cert.referenceBlock, signedStake
        );
    }

    /// @notice The last block in which batch `batchId` can be challenged: its settlement block + slash_window.
    function challengeDeadline(uint64 batchId) public view returns (uint256) {
        return _batches[batchId].settledAt + params.get(params.SLASH_WINDOW());
    }

    /// @notice Apply batch `batchId`'s debits to the clients of `entries` (each proven by its `proofs` entry):
    ///         for each, its next batch (debitedThrough + 1). Takes each debit from escrow (at most what is there; a
    ///         shortfall scales every payout of the batch down) and counts it as processed. Anyone may call it,
    ///         for one client or many at once (one transaction amortizes the batch's storage).
    function applyDebits(uint64 batchId, BatchLeaves.Account[] calldata entries, bytes32[][] calldata proofs) external {
        Batch storage b = _batches[batchId];
        if (b.voided) revert BatchVoided(batchId);
        uint256 processed;
        uint256 funded;
        for (uint256 i; i < entries.length; ++i) {
            BatchLeaves.Account calldata a = entries[i];
            _next(a.account, batchId);
            _checkAccount(b, a, proofs[i]);
            _mark(debitApplied[batchId], batchId, a.slot);
            uint256 taken = _take(a.account, a.debit);
            if (taken < a.debit) shortfall[batchId][a.account] = a.debit - taken;
            debitedThrough[a.account] = batchId;
            processed += a.debit;
            funded += taken;
            emit DebitApplied(batchId, a.account, a.debit, taken);
        }
        totalEscrow -= funded;
        b.processed += uint128(processed);
        b.funded += uint128(funded);
    }

    /// @notice Advance `client`'s cursor past batch `batchId` that does not debit it: voided, or `client` is absent
    ///         from its sorted entries — `around` is the entry before it and the entry after it (adjacent slots),
    ///         or just the first entry (when `client` sorts before it) or just the last (after it).
    function skipDebit(
        uint64 batchId,
        address client,
        BatchLeaves.Account[] calldata around,
        bytes32[][] calldata proofs
    ) external {
        Batch storage b = _next(client, batchId);
        if (!b.voided) {
            for (uint256 i; i < around.length; ++i) _checkAccount(b, around[i], proofs[i]);
            bool absent;
            if (around.length == 2) {
                absent = uint256(around[0].slot) + 1 == around[1].slot && around[0].account < client
                    && client < around[1].account;
            } else if (around.length == 1) {
                BatchLeaves.Account calldata e = around[0];
                absent = (e.slot == 0 && client < e.account) || (e.slot + 1 == b.accounts && e.account < client);
            }
            if (!absent) revert NotAbsent(client);
        }
        debitedThrough[client] = batchId;
        emit DebitSkipped(batchId, client);
    }

    /// @notice Credit each account of `entries` (each proven by its `proofs` entry) its operator share of final
    ///         batch `batchId`, scaled by funded / feeTotal. Final: unvoided, past its challenge deadline, every
    ///         debit processed. Once per entry.
    function claimCredits(uint64 batchId, BatchLeaves.Account[] calldata entries, bytes32[][] calldata proofs)
        external
    {
        Batch storage b = _final(batchId);
        uint256 total;
        for (uint256 i; i < entries.length; ++i) {
            BatchLeaves.Account calldata a = entries[i];
            _checkAccount(b, a, proofs[i]);
            _mark(creditClaimed[batchId], batchId, a.slot);
            uint256 amount = _scaled(b, a.credit, Math.Rounding.Floor);
            credits[a.account] += amount;
            total += amount;
            emit CreditClaimed(batchId, a.account, amount);
        }
        totalCredits += total;
    }

    /// @notice Split final batch `batchId`'s non-operator fees: the validator share (⌊feeTotal · validatorBps⌋,
    ///         scaled by funded / feeTotal) is held for the signers, the rest of the funded amount above the
    ///         operators' scaled total goes to the treasury. Once per batch.
    function collectFees(uint64 batchId) external {
        Batch storage b = _final(batchId);
        if (b.feesCollected) revert AlreadyClaimed(batchId, type(uint32).max);
        b.feesCollected = true;
        uint256 validators = _scaled(b, uint256(b.feeTotal) * b.validatorBps / BPS, Math.Rounding.Floor);
        uint256 operators = _scaled(b, b.operatorTotal, Math.Rounding.Ceil);
        // Σ of the operators' floored credits ≤ ⌈operatorTotal · funded / feeTotal⌉; clamped for a zero treasury share.
        uint256 spent = validators + operators;
        uint256 rest = b.funded > spent ? b.funded - spent : 0;
        validatorFees[batchId] = validators;
        _credit(treasury, rest);
        emit FeesCollected(batchId, validators, rest);
    }

    /// @notice Credit msg.sender its stake-weighted share of batch `batchId`'s validator fees; `nonSigners` is the
    ///         certificate's list (from the submission transaction) and msg.sender must have signed.
    function claimValidatorFees(uint64 batchId, address[] calldata nonSigners) external returns (uint256 amount) {
        Batch storage b = _batches[batchId];
        if (keccak256(abi.encode(nonSigners)) != b.nonSigners) revert NonSignersMismatch();
        uint256 stake = _signerStake(b, msg.sender, nonSigners);
        if (stake == 0 || validatorClaimed[batchId][msg.sender]) revert NotASigner(batchId, msg.sender);
        validatorClaimed[batchId][msg.sender] = true;
        amount = validatorFees[batchId] * stake / b.signedStake;
        _credit(msg.sender, amount);
        emit ValidatorFeesClaimed(batchId, msg.sender, amount);
    }

    /// @notice Give the client of entry `a` (proven by `proof`) back what applyDebits took from it for voided
    ///         batch `batchId`.
    function refundDebit(uint64 batchId, BatchLeaves.Account calldata a, bytes32[] calldata proof) external {
        Batch storage b = _batches[batchId];
        if (!b.voided) revert NotVoided(batchId);
        _checkAccount(b, a, proof);
        uint256 bit = 1 << (a.slot & 255);
        uint256 word = debitApplied[batchId][a.slot >> 8];
        if (word & bit == 0) revert NothingToWithdraw();
        debitApplied[batchId][a.slot >> 8] = word & ~bit;
        uint256 amount = a.debit - shortfall[batchId][a.account];
        _refund(a.account, amount);
        emit DebitRefunded(batchId, a.account, amount);
    }

    /// @dev Set bit `slot` of `bits`, reverting AlreadyClaimed when it was set.
    function _mark(mapping(uint256 => uint256) storage bits, uint64 batchId, uint32 slot) private {
        uint256 bit = 1 << (slot & 255);
        uint256 word = bits[slot >> 8];
        if (word & bit != 0) revert AlreadyClaimed(batchId, slot);
        bits[slot >> 8] = word | bit;
    }

    function _next(address client, uint64 batchId) private view returns (Batch storage b) {
        uint64 expected = debitedThrough[client] + 1;
        if (batchId != expected) revert OutOfOrder(client, expected, batchId);
        if (batchId > _lastBatchId) revert UnknownBatch(batchId);
        b = _batches[batchId];
    }

    function _final(uint64 batchId) private view returns (Batch storage b) {
        b = _batches[batchId];
        if (b.settledAt == 0) revert UnknownBatch(batchId);
        if (b.voided) revert BatchVoided(batchId);
        uint256 deadline = challengeDeadline(batchId);
        if (block.number <= deadline) revert NotFinal(batchId, deadline + 1);
        if (b.processed != b.feeTotal) revert DebitsUnprocessed(batchId, b.processed, b.feeTotal);
    }

    /// @dev `amount` · funded / feeTotal: what a share of the batch is worth when some debits fell short.
    function _scaled(Batch storage b, uint256 amount, Math.Rounding rounding) private view returns (uint256) {
        return b.feeTotal == 0 ? 0 : Math.mulDiv(amount, b.funded, b.feeTotal, rounding);
    }

    function _checkAccount(Batch storage b, BatchLeaves.Account calldata a, bytes32[] calldata proof) internal view {
        if (!MerkleProof.verifyCalldata(proof, b.accountRoot, BatchLeaves.accountHash(a))) revert InvalidProof();
    }

    /// @dev `v`'s stake at the batch's reference block when it signed (counted then, not a non-signer), else 0.
    function _signerStake(Batch storage b, address v, address[] calldata nonSigners) internal view returns (uint256) {
        (uint256 lo, uint256 hi) = (0, nonSigners.length);
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (nonSigners[mid] == v) return 0;
            if (nonSigners[mid] < v) lo = mid + 1;
            else hi = mid;
        }
        return nodes.validatorStakeAt(v, b.referenceBlock);
    }
}
