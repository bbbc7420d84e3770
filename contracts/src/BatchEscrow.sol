// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ProtocolParams} from "./ProtocolParams.sol";

/// @title BatchEscrow
/// @notice Client escrow and fee credits for optimistic batches. Batches debit clients lazily (one proof per client
///         per batch, by anyone), so each client keeps a cursor: `debitedThrough`, the last batch whose debit to it
///         is applied or proven absent. A withdrawal is requested, then completes at least escrowLockBlocks() later
///         and only while the cursor is at the latest settled batch: no settled debit can be left behind.
abstract contract BatchEscrow {
    using SafeERC20 for IERC20;

    /// @notice A requested escrow withdrawal: `amount`, payable from block `availableAt` on.
    struct EscrowWithdrawal {
        uint256 amount;
        uint64 availableAt;
    }

    IERC20 public immutable token;
    ProtocolParams public immutable params;

    mapping(address client => uint256) public escrow;
    mapping(address account => uint256) public credits;
    mapping(address client => EscrowWithdrawal) public escrowWithdrawals;
    /// @notice The last batch id whose debit to `client` was applied or proven absent (or skipped as voided).
    mapping(address client => uint64) public debitedThrough;
    uint256 public totalEscrow;
    uint256 public totalCredits;

    error ZeroAmount();
    error InsufficientEscrow(address client, uint256 available, uint256 needed);
    error NothingToWithdraw();
    error NoWithdrawalRequested(address client);
    error WithdrawalPending(uint64 availableAt);
    error DebitsPending(address client, uint64 debitedThrough, uint64 lastBatchId);

    event Deposited(address indexed client, uint256 amount);
    event EscrowWithdrawalRequested(address indexed client, uint256 amount, uint64 availableAt);
    event EscrowWithdrawn(address indexed client, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);

    constructor(IERC20 token_, ProtocolParams params_) {
        token = token_;
        params = params_;
    }

    /// @notice The id of the latest settled batch.
    function lastBatchId() public view virtual returns (uint64);

    /// @notice Escrow `amount` tokens for msg.sender's requests (approve first).
    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        escrow[msg.sender] += amount;
        totalEscrow += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount);
    }

    /// @notice Ask to take back `amount` of msg.sender's escrow; it stays debitable until withdrawEscrow. A new
    ///         request replaces the pending one and restarts its clock.
    function requestEscrowWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 available = escrow[msg.sender];
        if (amount > available) revert InsufficientEscrow(msg.sender, available, amount);
        uint64 availableAt = uint64(block.number + escrowLockBlocks());
        escrowWithdrawals[msg.sender] = EscrowWithdrawal(amount, availableAt);
        emit EscrowWithdrawalRequested(msg.sender, amount, availableAt);
    }

    /// @notice Complete msg.sender's due withdrawal: only once every settled batch's debit to it is applied (the
    ///         cursor is at lastBatchId), then pays the requested amount or what is left of the escrow.
    function withdrawEscrow() external returns (uint256 amount) {
        EscrowWithdrawal memory w = escrowWithdrawals[msg.sender];
        if (w.amount == 0) revert NoWithdrawalRequested(msg.sender);
        if (block.number < w.availableAt) revert WithdrawalPending(w.availableAt);
        uint64 last = lastBatchId();
        if (debitedThrough[msg.sender] != last) revert DebitsPending(msg.sender, debitedThrough[msg.sender], last);
        delete escrowWithdrawals[msg.sender];
        uint256 available = escrow[msg.sender];
        amount = w.amount < available ? w.amount : available;
        if (amount == 0) revert NothingToWithdraw();
        escrow[msg.sender] = available - amount;
        totalEscrow -= amount;
        token.safeTransfer(msg.sender, amount);
        emit EscrowWithdrawn(msg.sender, amount);
    }

    /// @notice How long escrow stays locked after a withdrawal request: node_epoch_length blocks (≥
    ///         settlement_frequency + slash_window), the time a served receipt has to reach a settled batch.
    function escrowLockBlocks() public view returns (uint256) {
        return params.get(params.NODE_EPOCH_LENGTH());
    }

    /// @notice Withdraw all fees credited to msg.sender.
    function withdraw() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        totalCredits -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @dev Take up to `amount` from `client`'s escrow; returns what was taken. The caller lowers totalEscrow.
    function _take(address client, uint256 amount) internal returns (uint256 taken) {
        uint256 available = escrow[client];
        taken = amount < available ? amount : available;
        escrow[client] = available - taken;
    }

    function _refund(address client, uint256 amount) internal {
        escrow[client] += amount;
        totalEscrow += amount;
    }

    function _credit(address account, uint256 amount) internal {
        credits[account] += amount;
        totalCredits += amount;
    }
}
