// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Multicall
/// @notice The proposer's all-or-nothing batch: user ops, the inbox calls and bridge relays run in one L1
/// transaction (the inbox's tentative/finalize pair shares transient storage, so it must). Only the owner
/// may use it, since it also holds the relayer fees the bridge pays to it.
contract Multicall {
    /// @notice One call of the batch.
    struct Call {
        address target;
        uint256 value;
        bytes data;
    }

    /// @notice The proposer allowed to send batches.
    address public owner;

    error MC_NOT_OWNER();
    /// @notice Call `index` of the batch reverted with `data` (its own revert data), so a proposer can name
    /// the failing step.
    error MC_CALL_FAILED(uint256 index, bytes data);

    constructor(address _owner) {
        owner = _owner;
    }

    /// @notice Runs `calls` in order; any revert reverts the whole batch with `MC_CALL_FAILED(index, data)`.
    function multicall(Call[] calldata calls) external payable returns (bytes[] memory results) {
        if (msg.sender != owner) revert MC_NOT_OWNER();
        results = new bytes[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = calls[i].target.call{value: calls[i].value}(calls[i].data);
            if (!ok) revert MC_CALL_FAILED(i, ret);
            results[i] = ret;
        }
    }

    /// @notice Moves collected fees out.
    function withdraw(address payable to, uint256 amount) external {
        if (msg.sender != owner) revert MC_NOT_OWNER();
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert MC_CALL_FAILED(type(uint256).max, "");
    }

    /// @notice Accepts relayer fees from the bridge.
    receive() external payable {}
}
