// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Fees} from "../../src/libraries/Fees.sol";

/// @notice Exposes the Fees library to eth_call, so the Python spec can be checked against it (tests/spec).
contract FeesHarness {
    function baseFee(uint256 pricePer1k, uint256 maxTokens) external pure returns (uint256) {
        return Fees.baseFee(pricePer1k, maxTokens);
    }

    function charge(uint256 pricePer1k, uint256 tokens, uint256 feeCap, uint256 rateBps)
        external
        pure
        returns (uint256)
    {
        return Fees.charge(pricePer1k, tokens, feeCap, rateBps);
    }

    function split(uint256 fee, uint256 operatorBps, uint256 validatorBps)
        external
        pure
        returns (uint256, uint256, uint256)
    {
        return Fees.split(fee, operatorBps, validatorBps);
    }
}
