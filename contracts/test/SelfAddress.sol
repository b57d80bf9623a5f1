// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Test contract whose immutable captures `address(this)`: it cannot be moved to another address.
contract SelfAddress {
    address public immutable self = address(this);
}
