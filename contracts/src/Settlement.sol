// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {BLS} from "./BLS.sol";
import {IBatchVerifier} from "./interfaces/IBatchVerifier.sol";
import {NodeRegistry} from "./NodeRegistry.sol";
import {ProtocolParams} from "./ProtocolParams.sol";

/// @title Settlement
/// @notice Client escrow, batch settlement with a Groth16 batch proof, the 78/12/10 fee split and pull
///         withdrawals. Batches settle in sequence (ids 1, 2, ...), at most once per settlement_frequency
///         blocks, and never twice.
contract Settlement {
    using SafeERC20 for IERC20;

    uint256 internal constant BPS = 10_000;
    uint256 internal constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Gas forwarded to the verifier (~230k needed): a malformed proof makes the generated verifier
    ///         hit `invalid()`, which would otherwise burn the whole transaction's gas.
    uint256 public constant VERIFY_GAS = 500_000;

    /// @notice One batch: receipt root and count, and the per-account debits and credits it settles.
    struct Batch {
        uint64 batchId;
        bytes32 root;
        uint32 count;
        address[] clients;
        uint256[] debits;
        address[] operators;
        uint256[] operatorCredits;
        address[] validators;
        uint256[] validatorCredits;
    }

    /// @notice The batch committee's certificate: members in ascending address order (the seats), a signer
    ///         bitmap (seat i is bit i % 8 of byte i / 8) and their aggregate BLS signature (EIP-2537 G2 encoding)
    ///         over batchSigningRoot(batchId, root).
    struct Certificate {
        address[] committee;
        bytes signers;
        bytes signature;
    }

    struct Settled {
        bytes32 root;
        uint64 settledAtBlock;
        uint32 count;
        uint256 totalFee;
    }

    IERC20 public immutable token;
    NodeRegistry public immutable nodes;
    ProtocolParams public immutable params;
    IBatchVerifier public immutable verifier;
    address public immutable treasury;

    mapping(address client => uint256) public escrow;
    mapping(address account => uint256) public credits;
    mapping(uint64 batchId => Settled) public batches;
    uint64 public lastBatchId;
    uint64 public lastSettlementBlock;
    uint256 public totalEscrow;
    uint256 public totalCredits;

    error ZeroAmount();
    error InsufficientEscrow(address client, uint256 available, uint256 needed);
    error NothingToWithdraw();
    error WrongBatchId(uint64 expected, uint64 got);
    error TooEarly(uint256 nextBlock);
    error BadBatchSize(uint32 count);
    error LengthMismatch();
    error RootNotInField();
    error BadProofLength(uint256 length);
    error InvalidBatchProof();
    error SplitMismatch(uint256 expectedOperators, uint256 gotOperators, uint256 expectedValidators, uint256 gotValidators);
    error InactiveOperator(address operator);
    error BadCommittee();
    error BadSignerBitmap();
    error NoQuorum(uint256 signed, uint256 committeeSize);
    error InvalidCommitteeSignature();

    event Deposited(address indexed client, uint256 amount);
    event EscrowWithdrawn(address indexed client, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event BatchSettled(
        uint64 indexed batchId, bytes32 root, uint32 count, uint256 totalFee, uint256 operators, uint256 validators, uint256 treasury
    );

    constructor(IERC20 token_, NodeRegistry nodes_, ProtocolParams params_, IBatchVerifier verifier_, address treasury_) {
        token = token_;
        nodes = nodes_;
        params = params_;
        verifier = verifier_;
        treasury = treasury_;
    }

    /// @notice Escrow `amount` tokens for msg.sender's requests (approve first).
    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        escrow[msg.sender] += amount;
        totalEscrow += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount);
    }

    /// @notice Take back `amount` of msg.sender's unspent escrow.
    function withdrawEscrow(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 available = escrow[msg.sender];
        if (amount > available) revert InsufficientEscrow(msg.sender, available, amount);
        escrow[msg.sender] = available - amount;
        totalEscrow -= amount;
        token.safeTransfer(msg.sender, amount);
        emit EscrowWithdrawn(msg.sender, amount);
    }

    /// @notice Withdraw all fees credited to msg.sender (operators, validators, treasury).
    function withdraw() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        totalCredits -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Settle batch `b` with its Groth16 batch proof (256-byte ABI encoding of A, B, C) and the batch
    ///         committee's certificate `cert` (≥ 2/3 of the seats signed the batch's signing root).
    /// @dev The committee has min(validator_quorum_size, registered validator keys) distinct members, each with
    ///      a registered key; which validators were sampled is not re-derived on-chain. Debits client escrow and credits operators (78 %), validators (12 %) and the treasury (the rest,
    ///      incl. rounding dust) in this transaction; the proof binds [batchId, root, count, creditsDigest(b)].
    function submitBatch(Batch calldata b, bytes calldata proof, Certificate calldata cert) external {
        _checkShape(b);
        _verify(b, proof);
        _checkCertificate(b.batchId, b.root, cert);
        uint256 totalFee = _debit(b.clients, b.debits);
        (uint256 opShare, uint256 valShare, uint256 treasuryShare) = split(totalFee);
        uint256 opSum = _credit(b.operators, b.operatorCredits, true);
        uint256 valSum = _credit(b.validators, b.validatorCredits, false);
        if (opSum != opShare || valSum != valShare) revert SplitMismatch(opShare, opSum, valShare, valSum);
        credits[treasury] += treasuryShare;
        totalEscrow -= totalFee;
        totalCredits += totalFee;

        batches[b.batchId] = Settled(b.root, uint64(block.number), b.count, totalFee);
        lastBatchId = b.batchId;
        lastSettlementBlock = uint64(block.number);
        emit BatchSettled(b.batchId, b.root, b.count, totalFee, opShare, valShare, treasuryShare);
    }

    /// @notice The batch-level fee split: (operators, validators, treasury); rounding dust goes to the treasury.
    function split(uint256 totalFee) public view returns (uint256 operators, uint256 validators, uint256 toTreasury) {
        operators = totalFee * params.get(params.OPERATOR_FEE_SHARE_BPS()) / BPS;
        validators = totalFee * params.get(params.VALIDATOR_FEE_SHARE_BPS()) / BPS;
        toTreasury = totalFee - operators - validators;
    }

    /// @notice The message a batch committee BLS-signs for batch `batchId` with `root` (MeshSync's signing root,
    ///         ax0n.certificate.batch_signing_root): sha256(sha256(batchId ‖ root) ‖ "AXBT" ‖ sha256(chainid)[:28]).
    function batchSigningRoot(uint64 batchId, bytes32 root) public view returns (bytes32) {
        bytes32 domain = bytes32(bytes4("AXBT")) | (sha256(abi.encode(block.chainid)) >> 32);
        return sha256(abi.encodePacked(sha256(abi.encode(uint256(batchId), root)), domain));
    }

    /// @notice sha256 over the packed credit arrays, reduced into the BN254 scalar field (public input 3).
    function creditsDigest(Batch calldata b) public pure returns (uint256) {
        bytes memory packed = bytes.concat(
            abi.encodePacked(b.clients, b.debits),
            abi.encodePacked(b.operators, b.operatorCredits),
            abi.encodePacked(b.validators, b.validatorCredits)
        );
        return uint256(sha256(packed)) % SNARK_SCALAR_FIELD;
    }

    function _checkShape(Batch calldata b) private view {
        uint64 expected = lastBatchId + 1;
        if (b.batchId != expected) revert WrongBatchId(expected, b.batchId);
        if (lastBatchId != 0) {
            uint256 nextBlock = lastSettlementBlock + params.get(params.SETTLEMENT_FREQUENCY());
            if (block.number < nextBlock) revert TooEarly(nextBlock);
        }
        if (b.count == 0 || b.count > params.get(params.MAX_BATCH_SIZE())) revert BadBatchSize(b.count);
        if (
            b.clients.length != b.debits.length || b.operators.length != b.operatorCredits.length
                || b.validators.length != b.validatorCredits.length
        ) revert LengthMismatch();
        if (uint256(b.root) >= SNARK_SCALAR_FIELD) revert RootNotInField();
    }

    function _checkCertificate(uint64 batchId, bytes32 root, Certificate calldata cert) private view {
        uint256 size = cert.committee.length;
        uint256 quorumSize = params.get(params.VALIDATOR_QUORUM_SIZE());
        uint256 registered = nodes.validatorCount();
        if (size == 0 || size != (quorumSize < registered ? quorumSize : registered)) revert BadCommittee();
        if (cert.signers.length != (size + 7) / 8) revert BadSignerBitmap();
        bytes memory aggregate;
        uint256 signed;
        for (uint256 i; i < size; ++i) {
            if (i > 0 && cert.committee[i] <= cert.committee[i - 1]) revert BadCommittee();
            bytes memory key = nodes.blsKey(cert.committee[i]);
            if (key.length == 0) revert BadCommittee();
            if (uint8(cert.signers[i / 8]) >> (i % 8) & 1 == 0) continue;
            aggregate = signed == 0 ? key : BLS.addG1(aggregate, key);
            ++signed;
        }
        if (size % 8 != 0 && uint8(cert.signers[size / 8]) >> (size % 8) != 0) revert BadSignerBitmap();
        if (signed * 3 < size * 2) revert NoQuorum(signed, size);
        if (!BLS.verify(aggregate, abi.encodePacked(batchSigningRoot(batchId, root)), cert.signature, BLS.SIG_DST)) {
            revert InvalidCommitteeSignature();
        }
    }

    function _debit(address[] calldata clients, uint256[] calldata debits) private returns (uint256 total) {
        for (uint256 i; i < clients.length; ++i) {
            uint256 available = escrow[clients[i]];
            if (available < debits[i]) revert InsufficientEscrow(clients[i], available, debits[i]);
            escrow[clients[i]] = available - debits[i];
            total += debits[i];
        }
    }

    function _verify(Batch calldata b, bytes calldata proof) private view {
        if (proof.length != 256) revert BadProofLength(proof.length);
        uint256[8] memory w = abi.decode(proof, (uint256[8]));
        uint256[4] memory input = [uint256(b.batchId), uint256(b.root), uint256(b.count), creditsDigest(b)];
        // The generated verifier reverts on out-of-range elements; both outcomes mean "invalid".
        try verifier.verifyProof{gas: VERIFY_GAS}([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], input) returns (bool ok) {
            if (!ok) revert InvalidBatchProof();
        } catch {
            revert InvalidBatchProof();
        }
    }

    function _credit(address[] calldata accounts, uint256[] calldata amounts, bool operators)
        private
        returns (uint256 sum)
    {
        for (uint256 i; i < accounts.length; ++i) {
            if (operators && !nodes.isActive(accounts[i])) revert InactiveOperator(accounts[i]);
            credits[accounts[i]] += amounts[i];
            sum += amounts[i];
        }
    }
}
