// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title Ax0nToken
/// @notice The ax0n ERC-20 (permit + votes, timestamp clock). The fixed supply of 1,000,000,000 is minted at
///         deployment: node operators 40 %, team & advisors 18 %, ecosystem 25 %, treasury 17 %.
contract Ax0nToken is ERC20, ERC20Permit, ERC20Votes {
    uint256 public constant TOTAL_SUPPLY = 1_000_000_000 ether;

    /// @param nodeOperators Receives 40 % (node-operator rewards pool).
    /// @param team Receives 18 % (team & advisors).
    /// @param ecosystem Receives 25 %.
    /// @param treasury Receives 17 %.
    constructor(address nodeOperators, address team, address ecosystem, address treasury)
        ERC20("ax0n", "AX0N")
        ERC20Permit("ax0n")
    {
        _mint(nodeOperators, TOTAL_SUPPLY * 40 / 100);
        _mint(team, TOTAL_SUPPLY * 18 / 100);
        _mint(ecosystem, TOTAL_SUPPLY * 25 / 100);
        _mint(treasury, TOTAL_SUPPLY * 17 / 100);
    }

    /// @notice Votes are checkpointed by timestamp (so governance periods are in seconds).
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice EIP-6372 clock description.
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    /// @notice The permit nonce of `owner`.
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
