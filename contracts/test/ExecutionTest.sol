// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Execution-test app: storage writes and clears, logs, reverts, CREATE2 and self-destruct.
contract StorageLogs {
    mapping(uint256 => uint256) public values;

    event Stored(uint256 indexed key, uint256 value);

    function store(uint256 key, uint256 value) external {
        values[key] = value;
        emit Stored(key, value);
    }

    function clear(uint256 key) external {
        delete values[key];
    }

    function fail(uint256 key) external {
        values[key] = 1;
        revert("asked to fail");
    }

    /// @notice CREATE2 a child that keeps storage and can self-destruct.
    function deploy(bytes32 salt) external payable returns (address child) {
        child = address(new Ephemeral{salt: salt, value: msg.value}());
    }

    /// @notice Creates a child and destroys it in the same transaction (a real destruction after Cancun).
    function deployAndDestroy(bytes32 salt) external payable returns (address child) {
        Ephemeral e = new Ephemeral{salt: salt, value: msg.value}();
        e.destroy(payable(msg.sender));
        child = address(e);
    }
}

/// @notice A child with storage that can self-destruct.
contract Ephemeral {
    uint256 public x = 42;

    constructor() payable {}

    function destroy(address payable to) external {
        selfdestruct(to);
    }
}
