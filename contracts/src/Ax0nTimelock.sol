// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title Ax0nTimelock
/// @notice The 7-day TimelockController that owns ProtocolParams and ModelRegistry; the governor proposes,
///         anyone executes once the delay has passed.
contract Ax0nTimelock is TimelockController {
    uint256 public constant DELAY = 7 days;

    /// @param proposers Usually just the governor.
    /// @param admin Optional bootstrap admin (address(0) for none); should renounce after wiring.
    constructor(address[] memory proposers, address admin)
        TimelockController(DELAY, proposers, _anyone(), admin)
    {}

    function _anyone() private pure returns (address[] memory executors) {
        executors = new address[](1);
    }
}
