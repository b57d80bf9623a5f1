// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBridge} from "../src/shared/IBridge.sol";
import {LibMPT} from "../src/lib/LibMPT.sol";

/// @notice Test app: records what the bridge tells it during an invocation, and can reply, burn gas or fail.
contract TestMessageReceiver {
    bytes32 public seenHash;
    address public seenFrom;
    uint64 public seenSrcChainId;
    uint256 public seenGas;
    uint256 public seenValue;
    uint256 public calls;
    bytes32 public replyHash;
    bool public failing;

    /// @notice Makes "flaky" invocations fail (true) or succeed (false).
    function setFailing(bool _failing) external {
        failing = _failing;
    }

    /// @notice Behaviour by data: empty records; "revert" fails; "flaky" fails while `failing` is set;
    /// "burn" spins until out of gas; "reply" sends a message back to the sender chain; "flaky-reply"
    /// fails while `failing` is set and replies otherwise; "free-reply" replies only to a transaction that
    /// pays no gas price (a callback that tells a simulation from the real thing) and fails otherwise;
    /// "heavy-reply" reads 2,000 storage slots no earlier call read (a leg heavy on cold L1 state), then replies.
    function onMessageInvocation(bytes calldata data) external payable {
        seenGas = gasleft();
        IBridge.Context memory ctx = IBridge(msg.sender).context();
        seenHash = ctx.msgHash;
        seenFrom = ctx.from;
        seenSrcChainId = ctx.srcChainId;
        seenValue = msg.value;
        calls++;
        bytes32 mode = keccak256(data);
        if (mode == keccak256("revert")) revert("asked to revert");
        if (mode == keccak256("flaky") && failing) revert("failing for now");
        if (mode == keccak256("burn")) {
            while (true) {}
        }
        if (mode == keccak256("flaky-reply")) {
            if (failing) revert("failing for now");
            _reply(ctx);
        }
        if (mode == keccak256("free-reply")) {
            if (tx.gasprice != 0) revert("answers only for free");
            _reply(ctx);
        }
        if (mode == keccak256("heavy-reply")) {
            uint256 acc;
            uint256 base = 10000 + calls * 10000;
            for (uint256 i = 0; i < 2000; i++) {
                assembly {
                    acc := add(acc, sload(add(base, i)))
                }
            }
            seenValue += acc;
            _reply(ctx);
        }
        if (mode == keccak256("reply")) _reply(ctx);
    }

    function _reply(IBridge.Context memory ctx) private {
        IBridge.Message memory back = IBridge.Message({
            id: 0,
            fee: 0,
            gasLimit: 0,
            from: address(0),
            srcChainId: 0,
            srcOwner: address(this),
            destChainId: ctx.srcChainId,
            destOwner: ctx.from,
            to: ctx.from,
            value: 0,
            data: ""
        });
        (replyHash,) = IBridge(msg.sender).sendMessage(back);
    }
}

/// @notice Exposes the trie verifier so tests can feed it arbitrary tries.
contract TestMPT {
    function get(bytes calldata key, bytes[] calldata proof, bytes32 root) external pure returns (bytes memory) {
        return LibMPT.get(key, proof, root);
    }
}
