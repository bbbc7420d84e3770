// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title BatchLeaves
/// @notice The optimistic batch format (ax0n.spec.batch): typed leaves and account entries, their keccak hashes
///         (OpenZeppelin's double-hashed leaves in a sorted-pair tree), and the fraud predicates a challenge proves
///         on-chain. tests/spec/test_batch_chain.py checks that the Python rules and these agree.
/// @dev Each leaf links into two chains, one per side: its client's debits (amount = fee) and its operator's
///      credits (amount = ⌊fee · operatorBps / 10,000⌋). `prev` is 1 + the index of the previous leaf of the same
///      account on that side (0: the first), `cum` the running total including this leaf, `slot` the position of the
///      account's entry. Entries are sorted by account, each holding the account's totals, 1 + the index of its last
///      leaf per side (0: none) and the running sums over entries 0..slot. Any lie in that structure shows up in one
///      leaf, one entry, or a pair of them.
library BatchLeaves {
    uint256 internal constant BPS = 10_000;
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant REQUEST_TYPEHASH = keccak256(
        "InferenceRequest(string modelId,bytes32 promptHash,uint32 maxTokens,uint32 maxLatencyMs,uint256 feeCap,"
        "uint64 nonce,uint64 deadline,uint64 chainId)"
    );

    /// @notice One settled receipt. `requestHash` is the EIP-712 hashStruct of the client's signed InferenceRequest
    ///         and (sigR, sigS, sigV) the client's signature over its digest in the request domain.
    struct Leaf {
        uint32 index;
        address client;
        address operator;
        uint96 fee;
        bytes32 receiptHash;
        bytes32 requestHash;
        bytes32 sigR;
        bytes32 sigS;
        uint8 sigV;
        uint32 clientSlot;
        uint32 clientPrev;
        uint128 clientCum;
        uint32 operatorSlot;
        uint32 operatorPrev;
        uint128 operatorCum;
    }

    /// @notice One account's totals in a batch: what it is debited (as a client) and credited (as an operator).
    struct Account {
        uint32 slot;
        address account;
        uint128 debit;
        uint128 credit;
        uint32 lastDebit;
        uint32 lastCredit;
        uint128 debitCum;
        uint128 creditCum;
    }

    /// @notice The client's signed request, as ax0n.spec.request types it.
    struct Request {
        string modelId;
        bytes32 promptHash;
        uint32 maxTokens;
        uint32 maxLatencyMs;
        uint256 feeCap;
        uint64 nonce;
        uint64 deadline;
        uint64 chainId;
    }

    /// @notice A batch's commitments as the fraud predicates see them.
    struct Totals {
        uint32 count;
        uint32 accounts;
        uint128 feeTotal;
        uint128 operatorTotal;
        uint16 operatorBps;
    }

    enum Side {
        Debit,
        Credit
    }

    function leafHash(Leaf calldata l) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(l))));
    }

    function accountHash(Account calldata a) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(a))));
    }

    function requestHash(Request calldata r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                REQUEST_TYPEHASH,
                keccak256(bytes(r.modelId)),
                r.promptHash,
                r.maxTokens,
                r.maxLatencyMs,
                r.feeCap,
                r.nonce,
                r.deadline,
                r.chainId
            )
        );
    }

    /// @notice The EIP-712 digest of a request with hashStruct `structHash` signed for `verifyingContract`.
    function requestDigest(bytes32 structHash, address verifyingContract) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("ax0n"), keccak256("1"), block.chainid, verifyingContract)
        );
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    /// @notice What a leaf moves on `side`: its fee (debit) or the operator's floored share (credit).
    function amount(Leaf calldata l, Side side, uint256 operatorBps) internal pure returns (uint256) {
        return side == Side.Debit ? l.fee : uint256(l.fee) * operatorBps / BPS;
    }

    function owner(Leaf calldata l, Side side) internal pure returns (address) {
        return side == Side.Debit ? l.client : l.operator;
    }

    function prev(Leaf calldata l, Side side) internal pure returns (uint32) {
        return side == Side.Debit ? l.clientPrev : l.operatorPrev;
    }

    function cum(Leaf calldata l, Side side) internal pure returns (uint256) {
        return side == Side.Debit ? l.clientCum : l.operatorCum;
    }

    function slot(Leaf calldata l, Side side) internal pure returns (uint32) {
        return side == Side.Debit ? l.clientSlot : l.operatorSlot;
    }

    function total(Account calldata a, Side side) internal pure returns (uint256) {
        return side == Side.Debit ? a.debit : a.credit;
    }

    function last(Account calldata a, Side side) internal pure returns (uint32) {
        return side == Side.Debit ? a.lastDebit : a.lastCredit;
    }

    /// @notice Faults visible in one leaf: an index or slot past the counts, a debit its client did not sign (the signature
    ///         does not recover to `client` over the request digest), or a chain link that points forward or
    ///         starts with a running total other than its own amount.
    function leafFault(Leaf calldata l, Totals memory t, address requestDomain) internal view returns (bool) {
        if (l.index >= t.count || l.clientSlot >= t.accounts || l.operatorSlot >= t.accounts) return true;
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(requestDigest(l.requestHash, requestDomain), l.sigV, l.sigR, l.sigS);
        if (err != ECDSA.RecoverError.NoError || signer != l.client) return true;
        for (uint256 s; s < 2; ++s) {
            Side side = Side(s);
            uint32 p = prev(l, side);
            if (p > l.index) return true;
            if (p == 0 && cum(l, side) != amount(l, side, t.operatorBps)) return true;
        }
        return false;
    }

    /// @notice A fee above the cap of the request the leaf's signature covers (`r` hashes to its requestHash).
    function overcharged(Leaf calldata l, Request calldata r) internal pure returns (bool) {
        return requestHash(r) == l.requestHash && l.fee > r.feeCap;
    }

    /// @notice A wrong link: `p` is the leaf `l` names as its predecessor on `side` but belongs to another account
    ///         or its running total plus `l`'s amount is not `l`'s.
    function linkFault(Leaf calldata l, Leaf calldata p, Side side, uint256 operatorBps) internal pure returns (bool) {
        if (prev(l, side) != uint256(p.index) + 1) return false;
        return owner(p, side) != owner(l, side) || cum(p, side) + amount(l, side, operatorBps) != cum(l, side);
    }

    /// @notice Two different leaves of one batch that cannot both stand: the same index, the same signed request,
    ///         or the same predecessor in one account's chain (a fork, which would let a leaf escape its total).
    function pairFault(Leaf calldata a, Leaf calldata b) internal pure returns (bool) {
        if (leafHash(a) == leafHash(b)) return false;
        if (a.index == b.index) return true;
        if (a.requestHash == b.requestHash && a.client == b.client) return true;
        if (a.client == b.client && a.clientPrev == b.clientPrev) return true;
        return a.operator == b.operator && a.operatorPrev == b.operatorPrev;
    }

    /// @notice A leaf and the entry it names (or that names it) that disagree: the entry at the leaf's slot is
    ///         another account's, or its last leaf is this leaf's predecessor (so this leaf is left out of the
    ///         total); or the entry's last leaf is this one and belongs to another account or has another total.
    function entryFault(Leaf calldata l, Account calldata a, Side side) internal pure returns (bool) {
        if (slot(l, side) == a.slot && (a.account != owner(l, side) || prev(l, side) == last(a, side))) return true;
        if (last(a, side) == uint256(l.index) + 1) {
            return a.account != owner(l, side) || total(a, side) != cum(l, side);
        }
        return false;
    }

    /// @notice Faults visible in one entry: a slot past the count, a last leaf past the leaf count, a total without a last leaf, or running sums
    ///         that do not start at the first entry's totals or end at the batch's.
    function accountFault(Account calldata a, Totals memory t) internal pure returns (bool) {
        if (a.slot >= t.accounts || a.lastDebit > t.count || a.lastCredit > t.count) return true;
        if ((a.lastDebit == 0 && a.debit != 0) || (a.lastCredit == 0 && a.credit != 0)) return true;
        if (a.slot == 0 && (a.debitCum != a.debit || a.creditCum != a.credit)) return true;
        return a.slot + 1 == t.accounts && (a.debitCum != t.feeTotal || a.creditCum != t.operatorTotal);
    }

    /// @notice Two entries that cannot both stand: one slot twice, or neighbours out of order or whose running sums
    ///         do not add up.
    function accountPairFault(Account calldata a, Account calldata b) internal pure returns (bool) {
        if (accountHash(a) == accountHash(b)) return false;
        if (a.slot == b.slot) return true;
        if (uint256(a.slot) + 1 != b.slot) return false;
        return a.account >= b.account || uint256(a.debitCum) + b.debit != b.debitCum
            || uint256(a.creditCum) + b.credit != b.creditCum;
    }
}
