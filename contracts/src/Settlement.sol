// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IBatchVerifier} from "./interfaces/IBatchVerifier.sol";
import {IZkVerifier} from "./interfaces/IZkVerifier.sol";
import {NodeRegistry} from "./NodeRegistry.sol";
import {ProtocolParams} from "./ProtocolParams.sol";

/// @title Settlement
/// @notice Client escrow, batch settlement with ProofCore's Groth16 batch proof (circuit `BatchSettlement(4, 16)`,
///         circuits/batch.circom), the 78/12/10 fee split floored per receipt, and pull withdrawals. Batches
///         settle in sequence (ids 1, 2, ...), at most once per settlement_frequency blocks, and never twice.
///         A node that signed a wrong zk-tier output (challengeZkOutput: a zk proof of the right one) or two
///         receipts for one request (challengeEquivocation), or whose receipt a validator supermajority certified
///         INVALID (challengeQuorumFault: a stake certificate over faultSigningRoot) is slashed, and the
///         committed beneficiary rewarded. Batch and fault certificates are stake certificates checked by
///         NodeRegistry.checkCertificate; client escrow leaves only escrowLockBlocks() after a withdrawal request.
/// @dev One deployment serves one circuit size N (here 16 receipts, 16 operator and 16 client slots); a larger N
///      needs its own circuit, verifier and a Settlement compiled with that N.
contract Settlement {
    using SafeERC20 for IERC20;

    /// @notice Receipts, operator slots and client slots per batch (the circuit's N).
    uint256 public constant N = 16;
    uint256 internal constant BPS = 10_000;
    /// @notice The circuit's public-input count, 8 + 4·N.
    uint256 public constant PUBLIC_INPUTS = 8 + 4 * N;
    uint256 internal constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Gas forwarded to the verifier (~0.75M needed for 72 inputs): a malformed proof makes the generated
    ///         verifier hit `invalid()`, which would otherwise burn the whole transaction's gas.
    uint256 public constant VERIFY_GAS = 1_500_000;
    /// @notice ax0n.receipt's EIP-712 types: the domain (name "ax0n", version "1", chainId), Receipt, RouteDecision.
    bytes32 public constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 public constant RECEIPT_TYPEHASH = keccak256(
        "Receipt(bytes32 requestId,string modelId,bytes32 modelCommitment,uint8 tier,bytes32 inputHash,"
        "bytes32 outputHash,Fingerprint fingerprint,ReferenceConfig reference,address nodeId,RouteDecision route,"
        "Timings timings,uint256 fee,address client,uint256 feeCap,uint32[] outputTokenIds,uint64 chainId)"
        "Fingerprint(uint32 chunkTokens,uint32 topK,bytes[] chunks,string encoding)"
        "ReferenceConfig(string torchVersion,string device,string isa,string dtype,uint32 threads,uint32 batchSize,"
        "bool kvCache)RouteDecision(bytes requestId,string clusterId,bytes nodeId,uint64 snapshotBlock,"
        "bytes snapshotHash)Timings(uint64 queuedMs,uint64 firstTokenMs,uint64 totalMs,uint32 outputTokens,"
        "uint32 promptTokens)"
    );
    bytes32 public constant ROUTE_TYPEHASH =
        keccak256("RouteDecision(bytes requestId,string clusterId,bytes nodeId,uint64 snapshotBlock,bytes snapshotHash)");
    uint256 internal constant TIER_ZK = 1;

    /// @notice One batch in the circuit's public-input layout (docs/proofs.md). Slots hold addresses as integers
    ///         (0 = unused) and the amounts the proof derives from the receipts: each operator's Σ⌊fee·78 %⌋,
    ///         each client's Σ fee; `validatorTotal` = Σ⌊fee·12 %⌋, `treasuryTotal` = the rest (rounding dust).
    ///         The basis points are not part of the calldata: the contract supplies its own ProtocolParams.
    struct Batch {
        uint64 batchId;
        bytes32 root;
        uint32 count;
        uint256 feeTotal;
        uint256 validatorTotal;
        uint256 treasuryTotal;
        uint256[N] operators;
        uint256[N] operatorAmounts;
        uint256[N] clients;
        uint256[N] clientAmounts;
    }

    /// @notice A stake certificate (NodeRegistry.checkCertificate): the aggregate BLS signature (EIP-2537 G2
    ///         encoding) over batchSigningRoot(batchId, root) (submitBatch) or faultSigningRoot(receiptHash)
    ///         (challengeQuorumFault) of every validator counted at `referenceBlock` except `nonSigners` (ascending
    ///         addresses), who must hold ≥ 2/3 of that block's validator stake.
    struct Certificate {
        uint256 referenceBlock;
        address[] nonSigners;
        bytes signature;
    }

    /// @notice A settled batch's validator fees, claimed by its signers pro rata to their stake at the reference
    ///         block (claimValidatorFees): `nonSigners` is keccak256(abi.encode(the certificate's non-signers)).
    struct ValidatorPay {
        uint64 referenceBlock;
        uint256 signedStake;
        uint256 amount;
        bytes32 nonSigners;
    }

    /// @notice A requested escrow withdrawal: `amount`, payable from block `availableAt` on.
    struct EscrowWithdrawal {
        uint256 amount;
        uint64 availableAt;
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
    address public immutable deployer;
    /// @notice The zk-tier (MLP) verifier challenges are checked with; set once by the deployer.
    IZkVerifier public zkVerifier;
    /// @notice The block each challenge commitment (challengeCommitment(key, beneficiary)) was first made in.
    mapping(bytes32 commitment => uint256 blockNumber) public challengeCommitments;
    /// @notice Challenged receipt hashes (wrong zk output, quorum fault) and keccak256(operator, requestId)
    ///         (equivocation).
    mapping(bytes32 key => bool) public challenged;

    mapping(address client => uint256) public escrow;
    mapping(address account => uint256) public credits;
    mapping(uint64 batchId => Settled) public batches;
    uint64 public lastBatchId;
    uint64 public lastSettlementBlock;
    uint256 public totalEscrow;
    uint256 public totalCredits;
    /// @notice Each client's pending escrow withdrawal (requestEscrowWithdrawal).
    mapping(address client => EscrowWithdrawal) public escrowWithdrawals;
    /// @notice Each settled batch's validator fees and who may claim them.
    mapping(uint64 batchId => ValidatorPay) public validatorPay;
    /// @notice Whether `validator` has claimed its share of batch `batchId`'s validator fees.
    mapping(uint64 batchId => mapping(address validator => bool)) public validatorClaimed;
    /// @notice Validator fees of settled batches not yet claimed (held here, apart from escrow and credits).
    uint256 public totalValidatorPool;

    error ZeroAmount();
    error InsufficientEscrow(address client, uint256 available, uint256 needed);
    error NothingToWithdraw();
    error WrongBatchId(uint64 expected, uint64 got);
    error TooEarly(uint256 nextBlock);
    error BadBatchSize(uint32 count);
    error RootNotInField();
    error SlotNotAddress(uint256 slot);
    error BadProofLength(uint256 length);
    error InvalidBatchProof();
    error SplitMismatch(uint256 feeTotal, uint256 debited, uint256 credited);
    error InactiveOperator(address operator);
    error OnlyDeployer();
    error ZkVerifierSet();
    error ChallengesDisabled();
    error NotReceipt();
    error NotZkReceipt();
    error NotEquivocation();
    error WrongChain(uint256 chainId);
    error RouteMismatch();
    error ChallengeWindowClosed(uint256 deadline);
    error NotOperatorsReceipt(address signer);
    error AlreadyChallenged(bytes32 receiptHash);
    error OutputNotDisputed();
    error InvalidChallengeProof();
    error NonSignersMismatch();
    error NoWithdrawalRequested(address client);
    error WithdrawalPending(uint64 availableAt);
    error NotCommitted(bytes32 commitment);
    error AlreadyClaimed(uint64 batchId, address validator);
    error NotASigner(uint64 batchId, address validator);

    event ChallengeCommitted(bytes32 indexed commitment, address indexed committer);
    event Deposited(address indexed client, uint256 amount);
    event EscrowWithdrawalRequested(address indexed client, uint256 amount, uint64 availableAt);
    event EscrowWithdrawn(address indexed client, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event EquivocationChallenged(
        address indexed operator, bytes32 indexed requestId, address indexed challenger, uint256 slashed, uint256 reward
    );
    event ZkOutputChallenged(
        address indexed operator, bytes32 indexed receiptHash, address indexed challenger, uint256 slashed, uint256 reward
    );
    event QuorumFaultChallenged(
        address indexed operator, bytes32 indexed receiptHash, address indexed challenger, uint256 slashed, uint256 reward
    );
    event ValidatorFeesClaimed(uint64 indexed batchId, address indexed validator, uint256 amount);
    /// @notice `validators` is the amount left for the signers to claim (claimValidatorFees), `treasury` the
    ///         treasury's credit; `referenceBlock`, `signedStake` and `totalValidatorStake` are the certificate's.
    event BatchSettled(
        uint64 indexed batchId,
        bytes32 root,
        uint32 count,
        uint256 totalFee,
        uint256 operators,
        uint256 validators,
        uint256 treasury,
        uint256 referenceBlock,
        uint256 signedStake,
        uint256 totalValidatorStake
    );

    constructor(IERC20 token_, NodeRegistry nodes_, ProtocolParams params_, IBatchVerifier verifier_, address treasury_) {
        token = token_;
        nodes = nodes_;
        params = params_;
        verifier = verifier_;
        treasury = treasury_;
        deployer = msg.sender;
    }

    /// @notice Bind the zk-tier verifier used by challengeZkOutput (once, by the deployer).
    function setZkVerifier(IZkVerifier zkVerifier_) external {
        if (msg.sender != deployer) revert OnlyDeployer();
        if (address(zkVerifier) != address(0)) revert ZkVerifierSet();
        zkVerifier = zkVerifier_;
    }

    /// @notice Challenge a zk-tier receipt whose output is wrong: `receipt` is the receipt's EIP-712 encodeData
    ///         (17 words: RECEIPT_TYPEHASH, then each field's encoding, ax0n.chain.challenge.receipt_words),
    ///         `route` its RouteDecision's encodeData (6 words), `signature` the node's 65-byte signature, and
    ///         `proof` a valid zk proof (256 bytes) that the receipt's model commitment and input hash give
    ///         `outputHash`, which differs from the receipt's. The model is a deterministic function fixed by its
    ///         commitment, so the signed output is wrong: `operator` (whose registered signing key signed) is
    ///         slashed min_node_stake (bond first, then unbonding stake), CHALLENGER_REWARD_BPS of it is credited
    ///         to `beneficiary` (committed beforehand: commitChallenge) and the rest to the treasury. Open for slash_window blocks after the receipt's
    ///         routing snapshot block; each receipt can be challenged once.
    function challengeZkOutput(
        address operator,
        bytes32[17] calldata receipt,
        bytes32[6] calldata route,
        bytes calldata signature,
        bytes calldata proof,
        uint256 outputHash,
        address beneficiary
    ) external {
        if (address(zkVerifier) == address(0)) revert ChallengesDisabled();
        if (uint256(receipt[4]) != TIER_ZK) revert NotZkReceipt();
        bytes32 digest = _openReceipt(operator, receipt, route, signature);
        if (outputHash == uint256(receipt[6])) revert OutputNotDisputed();
        _verifyZk([uint256(receipt[3]), uint256(receipt[5]), outputHash], proof);
        (uint256 slashed, uint256 reward) = _slash(operator, digest, params.SLASH_ZK_OUTPUT_BPS(), beneficiary);
        emit ZkOutputChallenged(operator, digest, beneficiary, slashed, reward);
    }

    /// @notice Challenge an equivocation: `operator`'s registered signing key signed two different receipts
    ///         (`first`, `second`, each as its 17 EIP-712 encodeData words) for one request id. Slashed and
    ///         rewarded as challengeZkOutput; open for slash_window blocks after `first`'s routing snapshot block
    ///         (`route` = its RouteDecision's encodeData); each (operator, request) can be slashed once.
    function challengeEquivocation(
        address operator,
        bytes32[17] calldata first,
        bytes32[6] calldata route,
        bytes calldata firstSignature,
        bytes32[17] calldata second,
        bytes calldata secondSignature,
        address beneficiary
    ) external {
        bytes32 a = _openReceipt(operator, first, route, firstSignature);
        bytes32 b = _signedBy(operator, second, secondSignature);
        if (first[1] != second[1] || a == b) revert NotEquivocation();
        (uint256 slashed, uint256 reward) = _slash(
            operator, keccak256(abi.encode(operator, first[1])), params.SLASH_EQUIVOCATION_BPS(), beneficiary
        );
        emit EquivocationChallenged(operator, first[1], beneficiary, slashed, reward);
    }

    /// @notice Challenge a receipt a validator committee certified INVALID (e.g. an LLM-tier fingerprint outside
    ///         tolerance): `receipt`, `route` and `signature` as in challengeZkOutput (any tier), and `cert` a stake
    ///         certificate over faultSigningRoot(receipt hash), checked as submitBatch checks a batch certificate
    ///         (≥ 2/3 of the validator stake at its reference block signed). Slashed and rewarded as
    ///         challengeZkOutput, open for slash_window blocks after the receipt's routing snapshot block; each
    ///         receipt can be slashed once, whichever challenge comes first (the same `challenged` entry as
    ///         challengeZkOutput).
    function challengeQuorumFault(
        address operator,
        bytes32[17] calldata receipt,
        bytes32[6] calldata route,
        bytes calldata signature,
        Certificate calldata cert,
        address beneficiary
    ) external {
        bytes32 digest = _openReceipt(operator, receipt, route, signature);
        nodes.checkCertificate(faultSigningRoot(digest), cert.referenceBlock, cert.nonSigners, cert.signature);
        (uint256 slashed, uint256 reward) = _slash(operator, digest, params.SLASH_QUORUM_FAULT_BPS(), beneficiary);
        emit QuorumFaultChallenged(operator, digest, beneficiary, slashed, reward);
    }

    /// @notice Commit to a challenge before making it: `commitment` = challengeCommitment(key, beneficiary), where
    ///         `key` is what the challenge slashes once (the receipt's EIP-712 digest for challengeZkOutput and
    ///         challengeQuorumFault, keccak256(abi.encode(operator, requestId)) for challengeEquivocation). The
    ///         challenge itself names `beneficiary`, who is paid the reward, and is accepted only from the block
    ///         after the commitment: a copier who sees the challenge in the mempool has no earlier commitment for its
    ///         own address, and copying it as-is pays the original beneficiary. Anyone may commit; the first
    ///         commitment's block is kept.
    function commitChallenge(bytes32 commitment) external {
        if (challengeCommitments[commitment] == 0) challengeCommitments[commitment] = block.number;
        emit ChallengeCommitted(commitment, msg.sender);
    }

    /// @notice The commitment of a challenge of `key` paying `beneficiary` (ax0n.chain.challenge.commitment).
    function challengeCommitment(bytes32 key, address beneficiary) public pure returns (bytes32) {
        return keccak256(abi.encode(key, beneficiary));
    }

    /// @notice The EIP-712 digest (ax0n.receipt.receipt_hash) of a receipt given as its 17 encodeData words, in
    ///         this deployment's domain (chain id and this contract's address): a receipt signed for another
    ///         Settlement or chain does not recover to its node here.
    function receiptHash(bytes32[17] calldata receipt) public view returns (bytes32) {
        bytes32 domain =
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("ax0n"), keccak256("1"), block.chainid, address(this)));
        return keccak256(abi.encodePacked(hex"1901", domain, keccak256(abi.encodePacked(receipt))));
    }

    /// @notice Escrow `amount` tokens for msg.sender's requests (approve first).
    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        escrow[msg.sender] += amount;
        totalEscrow += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount);
    }

    /// @notice Ask to take back `amount` of msg.sender's escrow. The escrow stays spendable by batches until
    ///         withdrawEscrow completes the request, at least escrowLockBlocks() blocks later, so a client cannot read
    ///         an output and pull the escrow before the node's receipt settles. A new request replaces the pending
    ///         one (and restarts its clock).
    function requestEscrowWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 available = escrow[msg.sender];
        if (amount > available) revert InsufficientEscrow(msg.sender, available, amount);
        uint64 availableAt = uint64(block.number + escrowLockBlocks());
        escrowWithdrawals[msg.sender] = EscrowWithdrawal(amount, availableAt);
        emit EscrowWithdrawalRequested(msg.sender, amount, availableAt);
    }

    /// @notice Complete msg.sender's withdrawal request once it is due: pays the requested amount, or what is left
    ///         of the escrow when batches settled meanwhile spent part of it (they are paid first).
    function withdrawEscrow() external returns (uint256 amount) {
        EscrowWithdrawal memory w = escrowWithdrawals[msg.sender];
        if (w.amount == 0) revert NoWithdrawalRequested(msg.sender);
        if (block.number < w.availableAt) revert WithdrawalPending(w.availableAt);
        delete escrowWithdrawals[msg.sender];
        uint256 available = escrow[msg.sender];
        amount = w.amount < available ? w.amount : available;
        if (amount == 0) revert NothingToWithdraw();
        escrow[msg.sender] = available - amount;
        totalEscrow -= amount;
        token.safeTransfer(msg.sender, amount);
        emit EscrowWithdrawn(msg.sender, amount);
    }

    /// @notice How long escrow stays locked after a withdrawal request: node_epoch_length blocks, which the
    ///         parameter invariants make ≥ settlement_frequency + slash_window, so every receipt served before the
    ///         request settles (a batch every settlement_frequency blocks) before the escrow can leave.
    function escrowLockBlocks() public view returns (uint256) {
        return params.get(params.NODE_EPOCH_LENGTH());
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

    /// @notice Settle batch `b` with its Groth16 batch proof (256-byte ABI encoding of A, B, C; the first 256 bytes
    ///         of ProofCore's 288-byte envelope) and a stake certificate `cert` over the batch's signing root
    ///         (validators holding ≥ 2/3 of the stake at its reference block signed: NodeRegistry.checkCertificate).
    /// @dev The proof's public inputs are built here from `b` and this contract's operator/validator basis points
    ///      (publicInputs), so a proof made under other shares fails. Debits exactly clientAmounts from escrow,
    ///      credits exactly operatorAmounts to (active) operators and treasuryTotal to the treasury, and holds
    ///      validatorTotal for the certificate's signers to claim by stake (claimValidatorFees), in this transaction.
    function submitBatch(Batch calldata b, bytes calldata proof, Certificate calldata cert) external {
        _checkShape(b);
        _verify(b, proof);
        (uint256 signedStake, uint256 totalValidatorStake) =
            nodes.checkCertificate(batchSigningRoot(b.batchId, b.root), cert.referenceBlock, cert.nonSigners, cert.signature);
        uint256 opSum = _settleSlots(b);
        validatorPay[b.batchId] = ValidatorPay(
            uint64(cert.referenceBlock), signedStake, b.validatorTotal, keccak256(abi.encode(cert.nonSigners))
        );
        totalValidatorPool += b.validatorTotal;
        credits[treasury] += b.treasuryTotal;
        totalEscrow -= b.feeTotal;
        totalCredits += opSum + b.treasuryTotal;

        batches[b.batchId] = Settled(b.root, uint64(block.number), b.count, b.feeTotal);
        lastBatchId = b.batchId;
        lastSettlementBlock = uint64(block.number);
        emit BatchSettled(
            b.batchId,
            b.root,
            b.count,
            b.feeTotal,
            opSum,
            b.validatorTotal,
            b.treasuryTotal,
            cert.referenceBlock,
            signedStake,
            totalValidatorStake
        );
    }

    /// @notice Credit msg.sender its share of batch `batchId`'s validator fees: validatorTotal · its stake at the
    ///         certificate's reference block / the signers' stake (floored; the flooring dust stays in the pool).
    ///         `nonSigners` is the batch certificate's non-signer list (from BatchSettled's transaction), and
    ///         msg.sender must not be in it and must have been counted at the reference block.
    function claimValidatorFees(uint64 batchId, address[] calldata nonSigners) external returns (uint256 amount) {
        ValidatorPay memory pay = validatorPay[batchId];
        if (pay.amount == 0 || keccak256(abi.encode(nonSigners)) != pay.nonSigners) revert NonSignersMismatch();
        if (validatorClaimed[batchId][msg.sender]) revert AlreadyClaimed(batchId, msg.sender);
        for (uint256 i; i < nonSigners.length; ++i) {
            if (nonSigners[i] == msg.sender) revert NotASigner(batchId, msg.sender);
        }
        uint256 stake = nodes.validatorStakeAt(msg.sender, pay.referenceBlock);
        if (stake == 0) revert NotASigner(batchId, msg.sender);
        validatorClaimed[batchId][msg.sender] = true;
        amount = pay.amount * stake / pay.signedStake;
        totalValidatorPool -= amount;
        credits[msg.sender] += amount;
        totalCredits += amount;
        emit ValidatorFeesClaimed(batchId, msg.sender, amount);
    }

    /// @notice The batch circuit's public inputs for `b` under the current fee shares (docs/proofs.md order).
    function publicInputs(Batch calldata b) public view returns (uint256[PUBLIC_INPUTS] memory input) {
        input[0] = b.batchId;
        input[1] = uint256(b.root);
        input[2] = b.count;
        input[3] = params.get(params.OPERATOR_FEE_SHARE_BPS());
        input[4] = params.get(params.VALIDATOR_FEE_SHARE_BPS());
        input[5] = b.feeTotal;
        input[6] = b.validatorTotal;
        input[7] = b.treasuryTotal;
        for (uint256 i; i < N; ++i) {
            input[8 + i] = b.operators[i];
            input[8 + N + i] = b.operatorAmounts[i];
            input[8 + 2 * N + i] = b.clients[i];
            input[8 + 3 * N + i] = b.clientAmounts[i];
        }
    }

    /// @notice The message a batch committee BLS-signs for batch `batchId` with `root` (MeshSync's signing root,
    ///         ax0n.certificate.batch_signing_root): sha256(sha256(batchId ‖ root) ‖ "AXBT" ‖ sha256(chainid)[:28]).
    function batchSigningRoot(uint64 batchId, bytes32 root) public view returns (bytes32) {
        bytes32 domain = bytes32(bytes4("AXBT")) | (sha256(abi.encode(block.chainid)) >> 32);
        return sha256(abi.encodePacked(sha256(abi.encode(uint256(batchId), root)), domain));
    }

    /// @notice The message a validator committee BLS-signs to attest that the receipt with EIP-712 digest
    ///         `digest` is INVALID (ax0n.certificate.fault_signing_root): sha256(sha256(digest) ‖ "AXFT" ‖
    ///         sha256(chainid)[:28]). Its domain tag differs from batchSigningRoot's, so no batch signature is a
    ///         fault attestation, nor the reverse.
    function faultSigningRoot(bytes32 digest) public view returns (bytes32) {
        bytes32 domain = bytes32(bytes4("AXFT")) | (sha256(abi.encode(block.chainid)) >> 32);
        return sha256(abi.encodePacked(sha256(abi.encode(digest)), domain));
    }

    function _checkShape(Batch calldata b) private view {
        uint64 expected = lastBatchId + 1;
        if (b.batchId != expected) revert WrongBatchId(expected, b.batchId);
        if (lastBatchId != 0) {
            uint256 nextBlock = lastSettlementBlock + params.get(params.SETTLEMENT_FREQUENCY());
            if (block.number < nextBlock) revert TooEarly(nextBlock);
        }
        if (b.count == 0 || b.count > N || b.count > params.get(params.MAX_BATCH_SIZE())) revert BadBatchSize(b.count);
        if (uint256(b.root) >= SNARK_SCALAR_FIELD) revert RootNotInField();
        uint256 debited;
        uint256 credited = b.validatorTotal + b.treasuryTotal;
        for (uint256 i; i < N; ++i) {
            if (b.operators[i] >> 160 != 0) revert SlotNotAddress(b.operators[i]);
            if (b.clients[i] >> 160 != 0) revert SlotNotAddress(b.clients[i]);
            debited += b.clientAmounts[i];
            credited += b.operatorAmounts[i];
        }
        // The proof implies both sums; checked here too so the books balance whatever the verifier says.
        if (debited != b.feeTotal || credited != b.feeTotal) revert SplitMismatch(b.feeTotal, debited, credited);
    }

    /// @dev Debits every client slot's amount from its escrow and credits every operator slot's amount; returns
    ///      the operators' total. Zero-amount slots are skipped.
    function _settleSlots(Batch calldata b) private returns (uint256 opSum) {
        for (uint256 i; i < N; ++i) {
            uint256 amount = b.clientAmounts[i];
            if (amount != 0) {
                address client = address(uint160(b.clients[i]));
                uint256 available = escrow[client];
                if (available < amount) revert InsufficientEscrow(client, available, amount);
                escrow[client] = available - amount;
            }
            amount = b.operatorAmounts[i];
            if (amount != 0) {
                address operator = address(uint160(b.operators[i]));
                if (!nodes.isActive(operator)) revert InactiveOperator(operator);
                credits[operator] += amount;
                opSum += amount;
            }
        }
    }

    function _verify(Batch calldata b, bytes calldata proof) private view {
        if (proof.length != 256) revert BadProofLength(proof.length);
        uint256[8] memory w = abi.decode(proof, (uint256[8]));
        uint256[PUBLIC_INPUTS] memory input = publicInputs(b);
        // The generated verifier reverts on out-of-range elements; both outcomes mean "invalid".
        try verifier.verifyProof{gas: VERIFY_GAS}([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], input) returns (bool ok) {
            if (!ok) revert InvalidBatchProof();
        } catch {
            revert InvalidBatchProof();
        }
    }

    /// @dev `_signedBy`, plus: `route` is the receipt's route and its snapshot block is within slash_window.
    function _openReceipt(
        address operator,
        bytes32[17] calldata receipt,
        bytes32[6] calldata route,
        bytes calldata signature
    ) private view returns (bytes32) {
        if (route[0] != ROUTE_TYPEHASH || keccak256(abi.encodePacked(route)) != receipt[10]) revert RouteMismatch();
        uint256 deadline = uint256(route[4]) + params.get(params.SLASH_WINDOW());
        if (block.number > deadline) revert ChallengeWindowClosed(deadline);
        return _signedBy(operator, receipt, signature);
    }

    /// @dev The receipt's digest, after checking its type and chain and that `operator`'s registered signing key
    ///      (which must be the receipt's nodeId) signed it.
    function _signedBy(address operator, bytes32[17] calldata receipt, bytes calldata signature)
        private
        view
        returns (bytes32 digest)
    {
        if (receipt[0] != RECEIPT_TYPEHASH) revert NotReceipt();
        if (uint256(receipt[16]) != block.chainid) revert WrongChain(uint256(receipt[16]));
        digest = receiptHash(receipt);
        address signer = ECDSA.recover(digest, signature);
        if (signer != address(uint160(uint256(receipt[9]))) || nodes.node(operator).signingKey != signer) {
            revert NotOperatorsReceipt(signer);
        }
    }

    /// @dev Slash `operator`, once per `key`, the fault class's ratio (ProtocolParams `ratio`, in bps) of its bonded
    ///      plus unbonding stake; the challenger gets challenger_reward_bps of it, the treasury the rest.
    function _slash(address operator, bytes32 key, bytes32 ratio, address beneficiary)
        private
        returns (uint256 slashed, uint256 reward)
    {
        if (challenged[key]) revert AlreadyChallenged(key);
        bytes32 commitment = challengeCommitment(key, beneficiary);
        uint256 committedAt = challengeCommitments[commitment];
        if (committedAt == 0 || committedAt >= block.number) revert NotCommitted(commitment);
        challenged[key] = true;
        NodeRegistry.Node memory n = nodes.node(operator);
        slashed = nodes.slash(operator, (n.stake + n.unbonding) * params.get(ratio) / BPS);
        reward = slashed * params.get(params.CHALLENGER_REWARD_BPS()) / BPS;
        credits[beneficiary] += reward;
        credits[treasury] += slashed - reward;
        totalCredits += slashed;
    }

    function _verifyZk(uint256[3] memory input, bytes calldata proof) private view {
        if (proof.length != 256) revert BadProofLength(proof.length);
        uint256[8] memory w = abi.decode(proof, (uint256[8]));
        try zkVerifier.verifyProof{gas: VERIFY_GAS}([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], input) returns (bool ok) {
            if (!ok) revert InvalidChallengeProof();
        } catch {
            revert InvalidChallengeProof();
        }
    }
}
