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

    /// @notice A round trip that first spends what the caller approved: takes `amount` of `token` from the
    /// caller (reverts without the allowance), sends `out`, then consumes the L1 reply `back`.
    function spendAndConsume(
        ApprovedToken token,
        uint256 amount,
        IBridge.Message calldata out,
        IBridge.Message calldata back
    ) external payable {
        token.transferFrom(msg.sender, address(this), amount);
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

/// @notice A token with allowances, for a synchronous call that spends what its sender approved just
/// before (checked arithmetic reverts a transfer beyond the allowance or the balance).
contract ApprovedToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor(uint256 supply) {
        balanceOf[msg.sender] = supply;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        return true;
    }
}

/// @notice Reads what a block's environment and its anchor decide (the clock, the coinbase's and the
/// treasury's balances, the anchor's last anchored block) and keeps a digest of them: a test's check that a
/// transaction reads the same on the state it was planned on and in its block.
contract EnvProbe {
    bytes32 public seen;

    function look(IAnchorView anchor) external {
        seen = keccak256(
            abi.encode(
                block.timestamp,
                block.number,
                block.basefee,
                block.coinbase.balance,
                address(anchor).balance,
                anchor.lastAnchorBlockId(),
                anchor.ancestorsHash()
            )
        );
    }
}

/// @notice The anchor's getters the probe reads.
interface IAnchorView {
    function lastAnchorBlockId() external view returns (uint64);
    function ancestorsHash() external view returns (bytes32);
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
