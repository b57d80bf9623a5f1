// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBridge, IMessageInvocable} from "../src/shared/IBridge.sol";

/// @title RoundTripL2
/// @notice The L2 half of a synchronous L2→L1→L2 call: in one L2 transaction, send a request to the L1
/// peer and process the peer's answer. The answer is an ordinary bridge message from the peer that the
/// proposer makes available through the fast-signal path before this transaction runs (the node predicts
/// it with `surge_simulateReturnMessage`); if it is missing, wrong, or fails, the whole transaction reverts.
abstract contract RoundTripL2 is IMessageInvocable {
    /// @notice Gas the L1 peer's callback gets (the bridge forwards exactly this in relayer mode).
    uint32 public constant L1_CALLBACK_GAS = 500_000;

    /// @notice This chain's bridge.
    IBridge public immutable bridge;
    /// @notice The L1 chain.
    uint64 public immutable l1ChainId;
    /// @notice The L1 contract that handles requests and answers them.
    address public immutable l1Peer;

    // The request awaiting its answer, and whether the answer arrived. Plain storage, not transient:
    // L2 runs Shanghai rules.
    bytes32 private _pending;
    bool private _answered;

    error RT_BUSY();
    error RT_NOT_BRIDGE(address caller);
    error RT_NOT_PEER(address from, uint64 srcChainId);
    error RT_UNEXPECTED_ANSWER(bytes32 requestHash);
    error RT_NO_ANSWER(bytes32 requestHash, IBridge.Status status);

    constructor(IBridge _bridge, uint64 _l1ChainId, address _l1Peer) {
        bridge = _bridge;
        l1ChainId = _l1ChainId;
        l1Peer = _l1Peer;
    }

    /// @notice Receives the peer's answer `abi.encode(requestHash, result)` while `_roundTrip` waits for it.
    function onMessageInvocation(bytes calldata data) external payable {
        if (msg.sender != address(bridge)) revert RT_NOT_BRIDGE(msg.sender);
        IBridge.Context memory ctx = bridge.context();
        if (ctx.from != l1Peer || ctx.srcChainId != l1ChainId) revert RT_NOT_PEER(ctx.from, ctx.srcChainId);
        (bytes32 requestHash, bytes memory result) = abi.decode(data, (bytes32, bytes));
        if (requestHash != _pending || _answered) revert RT_UNEXPECTED_ANSWER(requestHash);
        _answered = true;
        _onAnswer(requestHash, result);
    }

    /// @dev Sends `payload` (and `value` wei) to the L1 peer on behalf of `user` (who owns the request on
    /// L1: refunds, failing and recalling it), offering `fee` wei to whoever relays it on L1 (the proposer,
    /// who pays the leg's L1 gas), then processes `answer`, which must be the peer's reply.
    function _roundTrip(
        address user,
        uint256 value,
        uint64 fee,
        bytes memory payload,
        IBridge.Message calldata answer
    ) internal returns (bytes32 requestHash) {
        if (_pending != bytes32(0)) revert RT_BUSY();
        bytes memory data = abi.encodeCall(IMessageInvocable.onMessageInvocation, (payload));
        IBridge.Message memory request = IBridge.Message({
            id: 0,
            fee: fee,
            gasLimit: bridge.getMessageMinGasLimit(data.length) + L1_CALLBACK_GAS,
            from: address(0),
            srcChainId: 0,
            srcOwner: user,
            destChainId: l1ChainId,
            destOwner: user,
            to: l1Peer,
            value: value,
            data: data
        });
        (requestHash,) = bridge.sendMessage{value: value + fee}(request);
        _pending = requestHash;
        // This contract is the answer's destination owner, so it is processed here and nowhere else.
        IBridge.Status status = bridge.processMessage(answer, "");
        if (status != IBridge.Status.DONE || !_answered) revert RT_NO_ANSWER(requestHash, status);
        _pending = bytes32(0);
        _answered = false;
    }

    /// @dev Applies the peer's `result` for `requestHash` (called once per round trip).
    function _onAnswer(bytes32 requestHash, bytes memory result) internal virtual;
}

/// @title RoundTripL1
/// @notice The L1 half: handles a request from the L2 peer (run by the L1 bridge inside the proposer's
/// bundle, in relayer mode with the request's gas) and answers it with a message back to the peer.
abstract contract RoundTripL1 is IMessageInvocable {
    /// @notice This chain's bridge.
    IBridge public immutable bridge;
    /// @notice The L2 chain.
    uint64 public immutable l2ChainId;
    /// @notice The L2 contract whose requests this answers.
    address public immutable l2Peer;

    error RT_NOT_BRIDGE(address caller);
    error RT_NOT_PEER(address from, uint64 srcChainId);

    constructor(IBridge _bridge, uint64 _l2ChainId, address _l2Peer) {
        bridge = _bridge;
        l2ChainId = _l2ChainId;
        l2Peer = _l2Peer;
    }

    /// @notice Handles a request and sends the answer `abi.encode(requestHash, result)` to the peer.
    function onMessageInvocation(bytes calldata data) external payable {
        if (msg.sender != address(bridge)) revert RT_NOT_BRIDGE(msg.sender);
        IBridge.Context memory ctx = bridge.context();
        if (ctx.from != l2Peer || ctx.srcChainId != l2ChainId) revert RT_NOT_PEER(ctx.from, ctx.srcChainId);
        bytes memory result = _handle(ctx.msgHash, data, msg.value);
        IBridge.Message memory answer = IBridge.Message({
            id: 0,
            fee: 0,
            gasLimit: 0, // only the peer (its destination owner) may process it
            from: address(0),
            srcChainId: 0,
            srcOwner: address(this),
            destChainId: l2ChainId,
            destOwner: l2Peer,
            to: l2Peer,
            value: 0,
            data: abi.encodeCall(IMessageInvocable.onMessageInvocation, (abi.encode(ctx.msgHash, result)))
        });
        bridge.sendMessage(answer);
    }

    /// @dev Handles request `requestHash` carrying `payload` and `value` wei; returns the result for L2.
    function _handle(bytes32 requestHash, bytes calldata payload, uint256 value)
        internal
        virtual
        returns (bytes memory result);
}
