// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ProtocolParams} from "./ProtocolParams.sol";
import {ISettledBatches} from "./interfaces/ISettledBatches.sol";
import {IStakeRegistry} from "./interfaces/IStakeRegistry.sol";
import {IZkVerifier} from "./interfaces/IZkVerifier.sol";
import {BatchLeaves} from "./libraries/BatchLeaves.sol";

/// @title ReceiptChallenges
/// @notice Slash an executor for a receipt it signed that a settled optimistic batch paid: a wrong zk-tier output
///         (challengeZkOutput: a zk proof of the right one), two receipts for one request (challengeEquivocation),
///         or a receipt a validator supermajority certified INVALID (challengeQuorumFault). Each names the batch
///         and the receipt's leaf with its path, so the window is slash_window blocks from that batch's settlement
///         block — not from a block the executor chose. Receipts are typed (`Receipt`, the EIP-712 encodeData
///         fields), and the slash goes through the ledger (ISettledBatches.slashOperator) to a committed beneficiary.
contract ReceiptChallenges {
    using BatchLeaves for BatchLeaves.Leaf;

    uint256 internal constant BPS = 10_000;
    uint256 internal constant TIER_ZK = 1;
    /// @notice Gas forwarded to the zk verifier: a malformed proof would otherwise burn the whole transaction's gas.
    uint256 public constant VERIFY_GAS = 1_500_000;
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

    /// @notice A receipt's EIP-712 encodeData, field by field (dynamic and nested fields as their hashes), exactly
    ///         the 17 words ax0n.chain.challenge.receipt_words gives.
    struct Receipt {
        bytes32 typeHash;
        bytes32 requestId;
        bytes32 modelIdHash;
        bytes32 modelCommitment;
        uint256 tier;
        bytes32 inputHash;
        uint256 outputHash;
        bytes32 fingerprintHash;
        bytes32 referenceHash;
        address nodeId;
        bytes32 routeHash;
        bytes32 timingsHash;
        uint256 fee;
        address client;
        uint256 feeCap;
        bytes32 outputTokenIdsHash;
        uint256 chainId;
    }

    /// @notice A receipt a settled batch paid: the batch, the receipt's leaf and path, the receipt and its node's
    ///         65-byte signature.
    struct Settled {
        uint64 batchId;
        BatchLeaves.Leaf leaf;
        bytes32[] path;
        Receipt receipt;
        bytes signature;
    }

    /// @notice A stake certificate over faultSigningRoot(receipt digest) (IStakeRegistry.checkCertificate).
    struct Certificate {
        uint256 referenceBlock;
        address[] nonSigners;
        bytes signature;
    }

    ISettledBatches public immutable ledger;
    IStakeRegistry public immutable nodes;
    ProtocolParams public immutable params;
    IZkVerifier public immutable zkVerifier;
    /// @notice The verifyingContract of the receipts' EIP-712 domain.
    address public immutable receiptDomain;
    mapping(bytes32 commitment => uint256 blockNumber) public challengeCommitments;
    mapping(bytes32 key => bool) public challenged;

    error NotReceipt();
    error WrongChain(uint256 chainId);
    error NotSettled(uint64 batchId);
    error ChallengeWindowClosed(uint256 deadline);
    error NotOperatorsReceipt(address signer);
    error NotZkReceipt();
    error OutputNotDisputed();
    error InvalidChallengeProof();
    error BadProofLength(uint256 length);
    error NotEquivocation();
    error AlreadyChallenged(bytes32 key);
    error NotCommitted(bytes32 commitment);

    event ChallengeCommitted(bytes32 indexed commitment, address indexed committer);
    event ReceiptChallenged(
        bytes4 indexed kind, address indexed operator, bytes32 indexed key, address beneficiary, uint256 slashed
    );

    constructor(
        ISettledBatches ledger_,
        IStakeRegistry nodes_,
        ProtocolParams params_,
        IZkVerifier zkVerifier_,
        address receiptDomain_
    ) {
        (ledger, nodes, params, zkVerifier, receiptDomain) = (ledger_, nodes_, params_, zkVerifier_, receiptDomain_);
    }

    /// @notice Commit to challenging `key` (the receipt digest, or keccak256(operator, requestId) for an
    ///         equivocation) for a beneficiary: challengeCommitment(key, beneficiary), one block before.
    function commitChallenge(bytes32 commitment) external {
        if (challengeCommitments[commitment] == 0) challengeCommitments[commitment] = block.number;
        emit ChallengeCommitted(commitment, msg.sender);
    }

    function challengeCommitment(bytes32 key, address beneficiary) public pure returns (bytes32) {
        return keccak256(abi.encode(key, beneficiary));
    }

    /// @notice The receipt's EIP-712 digest in this deployment's domain (ax0n.spec.receipt.receipt_hash).
    function receiptHash(Receipt calldata r) public view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(BatchLeaves.DOMAIN_TYPEHASH, keccak256("ax0n"), keccak256("1"), block.chainid, receiptDomain)
        );
        return keccak256(abi.encodePacked(hex"1901", domain, keccak256(abi.encode(r))));
    }

    /// @notice The message a fault committee signs (ax0n.spec.certificate.fault_signing_root).
    function faultSigningRoot(bytes32 digest) public view returns (bytes32) {
        bytes32 domain = bytes32(bytes4("AXFT")) | (sha256(abi.encode(block.chainid)) >> 32);
        return sha256(abi.encodePacked(sha256(abi.encode(digest)), domain));
    }

    /// @notice A zk-tier receipt whose signed output differs from `outputHash`, which `zkProof` (256 bytes) proves
    ///         the committed model gives on the receipt's input. Slashes slash_zk_output_bps.
    function challengeZkOutput(Settled calldata s, bytes calldata zkProof, uint256 outputHash, address beneficiary)
        external
    {
        (bytes32 digest, address operator) = _open(s);
        if (s.receipt.tier != TIER_ZK) revert NotZkReceipt();
        if (outputHash == s.receipt.outputHash) revert OutputNotDisputed();
        _verifyZk([uint256(s.receipt.modelCommitment), uint256(s.receipt.inputHash), outputHash], zkProof);
        _slash(this.challengeZkOutput.selector, operator, digest, params.SLASH_ZK_OUTPUT_BPS(), beneficiary);
    }

    /// @notice The settled receipt `s` and another receipt `other` its node's key signed for the same request.
    ///         Slashes slash_equivocation_bps, once per (operator, request).
    function challengeEquivocation(
        Settled calldata s,
        Receipt calldata other,
        bytes calldata otherSignature,
        address beneficiary
    ) external {
        (bytes32 digest, address operator) = _open(s);
        bytes32 second = _digest(other);
        if (ECDSA.recover(second, otherSignature) != s.receipt.nodeId) revert NotOperatorsReceipt(other.nodeId);
        if (other.requestId != s.receipt.requestId || second == digest) revert NotEquivocation();
        bytes32 key = keccak256(abi.encode(operator, s.receipt.requestId));
        _slash(this.challengeEquivocation.selector, operator, key, params.SLASH_EQUIVOCATION_BPS(), beneficiary);
    }

    /// @notice A settled receipt that ≥ 2/3 of the validator stake certified INVALID (`cert`). Slashes
    ///         slash_quorum_fault_bps; a receipt is slashed once, whichever receipt challenge comes first.
    function challengeQuorumFault(Settled calldata s, Certificate calldata cert, address beneficiary) external {
        (bytes32 digest, address operator) = _open(s);
        nodes.checkCertificate(faultSigningRoot(digest), cert.referenceBlock, cert.nonSigners, cert.signature);
        _slash(this.challengeQuorumFault.selector, operator, digest, params.SLASH_QUORUM_FAULT_BPS(), beneficiary);
    }

    /// @dev The receipt's digest and the operator whose registered key signed it, after checking that batch
    ///      `s.batchId` settled it (its leaf, by path) no more than slash_window blocks ago.
    function _open(Settled calldata s) private view returns (bytes32 digest, address operator) {
        (bytes32 root, uint64 settledAt) = ledger.settledLeaves(s.batchId);
        if (settledAt == 0) revert NotSettled(s.batchId);
        uint256 deadline = settledAt + params.get(params.SLASH_WINDOW());
        if (block.number > deadline) revert ChallengeWindowClosed(deadline);
        digest = _digest(s.receipt);
        if (s.leaf.receiptHash != digest || !MerkleProof.verifyCalldata(s.path, root, s.leaf.leafHash())) {
            revert NotSettled(s.batchId);
        }
        address signer = ECDSA.recover(digest, s.signature);
        operator = nodes.operatorOfSigningKey(signer);
        if (signer != s.receipt.nodeId || operator == address(0)) revert NotOperatorsReceipt(signer);
    }

    function _digest(Receipt calldata r) private view returns (bytes32) {
        if (r.typeHash != RECEIPT_TYPEHASH) revert NotReceipt();
        if (r.chainId != block.chainid) revert WrongChain(r.chainId);
        return receiptHash(r);
    }

    function _slash(bytes4 kind, address operator, bytes32 key, bytes32 ratio, address beneficiary) private {
        if (challenged[key]) revert AlreadyChallenged(key);
        bytes32 commitment = challengeCommitment(key, beneficiary);
        uint256 committedAt = challengeCommitments[commitment];
        if (committedAt == 0 || committedAt >= block.number) revert NotCommitted(commitment);
        challenged[key] = true;
        IStakeRegistry.NodeRecord memory n = nodes.node(operator);
        (uint256 slashed,) = ledger.slashOperator(operator, (n.stake + n.unbonding) * params.get(ratio) / BPS, beneficiary);
        emit ReceiptChallenged(kind, operator, key, beneficiary, slashed);
    }

    function _verifyZk(uint256[3] memory input, bytes calldata proof) private view {
        if (proof.length != 256) revert BadProofLength(proof.length);
        uint256[8] memory w = abi.decode(proof, (uint256[8]));
        try zkVerifier.verifyProof{gas: VERIFY_GAS}([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], input)
        returns (bool ok) {
            if (!ok) revert InvalidChallengeProof();
        } catch {
            revert InvalidChallengeProof();
        }
    }
}
