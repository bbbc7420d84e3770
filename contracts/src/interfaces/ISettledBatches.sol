// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title ISettledBatches
/// @notice What receipt challenges need from the batch ledger: a settled batch's leaf root and settlement block,
///         and slashing an operator through it (the registry's one slasher), callable by its bound challenges only.
interface ISettledBatches {
    /// @return leafRoot The batch's leaf root (zero when unknown).
    /// @return settledAt The block the batch settled in (0 when unknown).
    function settledLeaves(uint64 batchId) external view returns (bytes32 leafRoot, uint64 settledAt);

    /// @notice Slash up to `amount` of `operator`'s stake (bonded, then unbonding); challenger_reward_bps of what
    ///         was taken is credited to `beneficiary`, the rest to the treasury.
    function slashOperator(address operator, uint256 amount, address beneficiary)
        external
        returns (uint256 slashed, uint256 reward);
}
