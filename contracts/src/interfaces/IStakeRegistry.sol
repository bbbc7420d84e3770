// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title IStakeRegistry
/// @notice What batch settlement needs from NodeRegistry: stake certificates, checkpointed validator stake, the
///         validator list, node records, signing keys and slashing (callable by the registry's bound settlement only).
interface IStakeRegistry {
    /// @notice NodeRegistry.Node, field for field.
    struct NodeRecord {
        uint256 stake;
        uint256 unbonding;
        uint64 unbondableAt;
        address signingKey;
        string endpoint;
        bytes32[] modelIds;
        bool registered;
        uint64 registeredAt;
        string cluster;
    }

    function checkCertificate(bytes32 message, uint256 referenceBlock, address[] calldata nonSigners, bytes calldata signature)
        external
        view
        returns (uint256 signedStake, uint256 totalValidatorStake);
    function validatorStakeAt(address validator, uint256 blockNumber) external view returns (uint256);
    function validatorCount() external view returns (uint256);
    function validatorAt(uint256 index) external view returns (address);
    function slash(address operator, uint256 amount) external returns (uint256 slashed);
    function node(address operator) external view returns (NodeRecord memory);
    function operatorOfSigningKey(address signingKey) external view returns (address);
}
