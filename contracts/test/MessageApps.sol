// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBridge} from "../src/shared/IBridge.sol";

/// @notice Test app that sends bridge messages in several shapes (outbound-message detection, round trips).
contract MessageSender {
    IBridge public immutable bridge;

    constructor(IBridge _bridge) {
        bridge = _bridge;
    }

    /// @notice Sends `a` then `b`.
    function sendTwo(IBridge.Message calldata a, IBridge.Message calldata b) external payable {
        bridge.sendMessage{value: a.value + a.fee}(a);
        bridge.sendMessage{value: b.value + b.fee}(b);
    }

    /// @notice Sends `a` from a sub-call that reverts, then sends `b` for real.
    function sendRevertedThenOne(IBridge.Message calldata a, IBridge.Message calldata b) external payable {
        try this.sendAndRevert{value: a.value + a.fee}(a) {} catch {}
        bridge.sendMessage{value: b.value + b.fee}(b);
    }

    /// @notice An L2→L1→L2 round trip in one transaction: sends `out`, then consumes the L1 reply `back`
    /// through the fast-signal path (this contract must be `back.destOwner`). Reverts as a whole if the
    /// reply's signal is not there.
    function sendAndConsume(IBridge.Message calldata out, IBridge.Message calldata back) external payable {
        bridge.sendMessage{value: out.value + out.fee}(out);
        bridge.processMessage(back, "");
    }

    /// @notice Sends `m` and reverts.
    function sendAndRevert(IBridge.Message calldata m) external payable {
        require(msg.sender == address(this), "internal");
        bridge.sendMessage{value: msg.value}(m);
        revert("undone");
    }
}

/// @notice A minimal delegating proxy: every call runs `implementation`'s code in this contract's context.
contract DelegateProxy {
    address public immutable implementation;

    constructor(address _implementation) {
        implementation = _implementation;
    }

    fallback() external payable {
        address impl = implementation;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), impl, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
