// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Fees
/// @notice ax0n's fee rule (ax0n.spec.fees), in the same integer arithmetic: what a request must offer, what a
///         receipt may charge, and how a charge splits. tests/spec/test_fees.py checks both agree on random vectors.
library Fees {
    uint256 internal constant BPS = 10_000;

    /// @notice The least fee cap a request for `maxTokens` may sign: ⌈price · maxTokens / 1000⌉.
    function baseFee(uint256 pricePer1k, uint256 maxTokens) internal pure returns (uint256) {
        return (pricePer1k * maxTokens + 999) / 1000;
    }

    /// @notice What a receipt for `tokens` tokens charges under the signed `feeCap`:
    ///         min(feeCap, max(⌊price · tokens / 1000⌋, ⌊feeCap · baseFeeRateBps / BPS⌋)).
    function charge(uint256 pricePer1k, uint256 tokens, uint256 feeCap, uint256 baseFeeRateBps)
        internal
        pure
        returns (uint256)
    {
        uint256 metered = pricePer1k * tokens / 1000;
        uint256 floor = feeCap * baseFeeRateBps / BPS;
        uint256 fee = metered > floor ? metered : floor;
        return fee < feeCap ? fee : feeCap;
    }

    /// @notice (operator, validators, treasury) shares of `fee`; the rounding dust goes to the treasury.
    function split(uint256 fee, uint256 operatorBps, uint256 validatorBps)
        internal
        pure
        returns (uint256 operator, uint256 validators, uint256 treasury)
    {
        operator = fee * operatorBps / BPS;
        validators = fee * validatorBps / BPS;
        treasury = fee - operator - validators;
    }
}
