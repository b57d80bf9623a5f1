// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IResolver} from "./ProtocolTypes.sol";

/// @title Resolver
/// @notice Maps (chain id, name) to an address, so each chain's contracts can find their peers on the
/// other chain. The owner registers entries.
contract Resolver is IResolver {
    /// @notice The account allowed to register addresses.
    address public owner;
    mapping(uint256 chainId => mapping(bytes32 name => address addr)) private _addresses;

    /// @notice Emitted when an entry changes.
    event AddressRegistered(uint256 indexed chainId, bytes32 indexed name, address newAddress, address oldAddress);
    /// @notice Emitted when ownership moves.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error RESOLVER_NOT_OWNER();
    error RESOLVER_ZERO_ADDRESS(uint256 chainId, bytes32 name);

    constructor(address initialOwner) {
        owner = initialOwner;
        emit OwnershipTransferred(address(0), initialOwner);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert RESOLVER_NOT_OWNER();
        _;
    }

    /// @notice Registers `newAddress` as `name` on `chainId`.
    function setAddress(uint256 chainId, bytes32 name, address newAddress) external onlyOwner {
        address old = _addresses[chainId][name];
        _addresses[chainId][name] = newAddress;
        emit AddressRegistered(chainId, name, newAddress, old);
    }

    /// @notice Hands the registry to another owner.
    function transferOwnership(address newOwner) external onlyOwner {
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @inheritdoc IResolver
    function resolve(uint256 chainId, bytes32 name, bool allowZero) external view returns (address addr) {
        addr = _addresses[chainId][name];
        if (addr == address(0) && !allowZero) revert RESOLVER_ZERO_ADDRESS(chainId, name);
    }
}
