// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Types shared by the Surge protocol contracts on both chains.
library ProtocolTypes {
    /// @notice A block of the other chain, as the signal service remembers it.
    struct Checkpoint {
        uint48 blockNumber;
        bytes32 blockHash;
        bytes32 stateRoot;
    }
}

/// @notice Well-known names under which the resolver stores addresses.
library ProtocolNames {
    bytes32 internal constant BRIDGE = bytes32("bridge");
    bytes32 internal constant SIGNAL_SERVICE = bytes32("signal_service");
}

/// @notice Address lookup by (chain id, name).
interface IResolver {
    /// @notice The address registered for `name` on `chainId`; reverts when it is zero and `allowZero` is false.
    function resolve(uint256 chainId, bytes32 name, bool allowZero) external view returns (address);
}
