// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice The bridge message and its lifecycle, shared by the bridge and the apps that use it.
interface IBridge {
    /// @notice A cross-chain message. `id`, `from` and `srcChainId` are assigned by `sendMessage`.
    struct Message {
        uint64 id;
        uint64 fee;
        uint32 gasLimit;
        address from;
        uint64 srcChainId;
        address srcOwner;
        uint64 destChainId;
        address destOwner;
        address to;
        uint256 value;
        bytes data;
    }

    /// @notice Processing state of a received message.
    enum Status {
        NEW,
        RETRIABLE,
        DONE,
        FAILED,
        RECALLED
    }

    /// @notice The message being processed right now, as seen from its invocation.
    struct Context {
        bytes32 msgHash;
        address from;
        uint64 srcChainId;
    }

    /// @notice Emitted when a message leaves this chain.
    event MessageSent(bytes32 indexed msgHash, Message message);
    /// @notice Emitted whenever a received message changes status.
    event MessageStatusChanged(bytes32 indexed msgHash, Status status);

    function sendMessage(Message calldata message) external payable returns (bytes32 msgHash, Message memory sent);
    function processMessage(Message calldata message, bytes calldata proof) external returns (Status status);
    function context() external view returns (Context memory ctx);
    function retryMessage(Message calldata message, bool isLastAttempt) external;
    function failMessage(Message calldata message) external;
    function recallMessage(Message calldata message, bytes calldata proof) external;
    function getMessageMinGasLimit(uint256 dataLength) external pure returns (uint32);
}

/// @notice What a message's `to` implements to receive the message's `data`.
interface IMessageInvocable {
    function onMessageInvocation(bytes calldata data) external payable;
}

/// @notice The part of the signal service the bridge uses.
interface ISignalService {
    function sendSignal(bytes32 signal) external returns (bytes32 slot);
    function isSignalSent(address app, bytes32 signal) external view returns (bool);
    function proveSignalReceived(uint64 chainId, address app, bytes32 signal, bytes calldata proof)
        external
        view
        returns (uint256 numCacheOps);
}
