// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBridge, IMessageInvocable, ISignalService} from "./IBridge.sol";
import {IResolver, ProtocolNames} from "./ProtocolTypes.sol";

/// @title Bridge
/// @notice Sends messages to the other chain (recorded as signals) and processes messages from it.
/// @dev The storage layout is part of the protocol, nodes read and override it:
/// slot 251 holds `nextMessageId` at byte offset 8, slot 252 is `messageStatus`, slots 253/254 the
/// invocation context (`msgHash`; then `from` in the low 20 bytes and `srcChainId` in the next 8).
contract Bridge is IBridge {
    /// @notice Gas kept back from a relayed message's `gasLimit` for the bridge's own work.
    uint32 public constant GAS_RESERVE = 800_000;
    /// @notice Gas charged per byte of (padded) message data, plus a fixed overhead of 416 bytes.
    uint32 public constant GAS_PER_BYTE = 16;
    /// @notice The largest proof a relayer may submit.
    uint256 public constant MAX_RELAYER_PROOF_SIZE = 200_000;

    bytes32 private constant PLACEHOLDER_HASH = bytes32(type(uint256).max);
    address private constant PLACEHOLDER_FROM = address(type(uint160).max);
    uint64 private constant PLACEHOLDER_CHAIN = type(uint64).max;

    uint256[251] private __gap;
    uint64 private __reserved1; // slot 251, offset 0
    /// @notice The id the next sent message gets.
    uint64 public nextMessageId; // slot 251, offset 8
    /// @notice Status of each received message by hash.
    mapping(bytes32 msgHash => Status) public messageStatus; // slot 252
    Context private __ctx; // slots 253, 254
    uint256 private __locked; // slot 255

    /// @notice This chain's signal service.
    ISignalService public immutable signalService;
    /// @notice Where the other chains' bridges are looked up; a chain with no bridge there is not enabled.
    IResolver public immutable resolver;

    error B_INVALID_USER();
    error B_INVALID_TO();
    error B_INVALID_CHAINID();
    error B_INVALID_VALUE();
    error B_INVALID_FEE();
    error B_INSUFFICIENT_GAS();
    error B_STATUS_MISMATCH();
    error B_PERMISSION_DENIED();
    error B_PROOF_TOO_LARGE();
    error B_SIGNAL_NOT_RECEIVED();
    error B_INVALID_CONTEXT();
    error B_REENTRANCY();
    error B_FEE_TRANSFER_FAILED();
    error B_RETRY_FAILED();
    error B_MESSAGE_NOT_SENT();
    error B_REFUND_FAILED();

    constructor(address _signalService, address _resolver) {
        signalService = ISignalService(_signalService);
        resolver = IResolver(_resolver);
    }

    modifier nonReentrant() {
        if (__locked == 2) revert B_REENTRANCY();
        __locked = 2;
        _;
        __locked = 1;
    }

    /// @notice Accepts plain ETH, so that a deployment can fund the value messages from the other chain
    /// deliver here (upstream's bridges only hold what was sent through them).
    receive() external payable {}

    /// @notice Sends `message` to its destination chain. Not `nonReentrant`: a message invocation may send
    /// the reply from inside `processMessage`.
    function sendMessage(Message calldata message) external payable returns (bytes32 msgHash, Message memory sent) {
        if (message.srcOwner == address(0) || message.destOwner == address(0)) revert B_INVALID_USER();
        if (message.to == address(0)) revert B_INVALID_TO();
        if (message.destChainId == 0 || message.destChainId == block.chainid) revert B_INVALID_CHAINID();
        if (resolver.resolve(message.destChainId, ProtocolNames.BRIDGE, true) == address(0)) {
            revert B_INVALID_CHAINID();
        }
        if (msg.value != message.value + message.fee) revert B_INVALID_VALUE();
        if (message.gasLimit == 0) {
            if (message.fee != 0) revert B_INVALID_FEE();
        } else if (message.gasLimit <= getMessageMinGasLimit(message.data.length)) {
            revert B_INSUFFICIENT_GAS();
        }

        sent = message;
        sent.id = nextMessageId++;
        sent.from = msg.sender;
        sent.srcChainId = uint64(block.chainid);

        msgHash = hashMessage(sent);
        emit MessageSent(msgHash, sent);
        signalService.sendSignal(msgHash);
    }

    /// @notice Processes a message from another chain. An empty `proof` uses the fast-signal path.
    function processMessage(Message calldata message, bytes calldata proof)
        external
        nonReentrant
        returns (Status status)
    {
        if (message.destChainId != block.chainid) revert B_INVALID_CHAINID();
        bool relayed = msg.sender != message.destOwner;
        if (relayed) {
            if (message.gasLimit == 0) revert B_PERMISSION_DENIED();
            if (proof.length > MAX_RELAYER_PROOF_SIZE) revert B_PROOF_TOO_LARGE();
        }

        bytes32 msgHash = hashMessage(message);
        if (messageStatus[msgHash] != Status.NEW) revert B_STATUS_MISMATCH();

        address srcBridge = resolver.resolve(message.srcChainId, ProtocolNames.BRIDGE, false);
        try signalService.proveSignalReceived(message.srcChainId, srcBridge, msgHash, proof) {}
        catch {
            revert B_SIGNAL_NOT_RECEIVED();
        }

        bool ok = relayed
            ? _invoke(message, msgHash, message.gasLimit - getMessageMinGasLimit(message.data.length), true)
            : _invoke(message, msgHash, gasleft(), false);
        status = ok ? Status.DONE : Status.RETRIABLE;
        _setStatus(msgHash, status);

        if (message.fee != 0) {
            (bool paid,) = msg.sender.call{value: message.fee}("");
            if (!paid) revert B_FEE_TRANSFER_FAILED();
        }
    }

    /// @notice Invokes a RETRIABLE message again, with all the gas this call has. Anyone may retry a message
    /// that has a gas limit; only its destination owner may retry one without, or make the last attempt.
    /// Success marks it DONE; a failed last attempt marks it FAILED (and signals that, so its value can be
    /// recalled on the source chain); any other failed retry reverts and leaves it RETRIABLE.
    function retryMessage(Message calldata message, bool isLastAttempt) external nonReentrant {
        if (message.destChainId != block.chainid) revert B_INVALID_CHAINID();
        bytes32 msgHash = hashMessage(message);
        if (messageStatus[msgHash] != Status.RETRIABLE) revert B_STATUS_MISMATCH();
        if ((message.gasLimit == 0 || isLastAttempt) && msg.sender != message.destOwner) {
            revert B_PERMISSION_DENIED();
        }
        if (_invoke(message, msgHash, gasleft(), false)) {
            _setStatus(msgHash, Status.DONE);
        } else if (isLastAttempt) {
            _markFailed(msgHash);
        } else {
            revert B_RETRY_FAILED();
        }
    }

    /// @notice Gives up on a RETRIABLE message: its destination owner marks it FAILED, which sends the
    /// signal `signalForFailedMessage(msgHash)` that lets the source chain recall its value.
    function failMessage(Message calldata message) external nonReentrant {
        if (message.destChainId != block.chainid) revert B_INVALID_CHAINID();
        if (msg.sender != message.destOwner) revert B_PERMISSION_DENIED();
        bytes32 msgHash = hashMessage(message);
        if (messageStatus[msgHash] != Status.RETRIABLE) revert B_STATUS_MISMATCH();
        _markFailed(msgHash);
    }

    /// @notice On the source chain, refunds the value of a message that FAILED on its destination to its
    /// source owner, once. `proof` proves the destination bridge's failure signal (empty: the fast path).
    function recallMessage(Message calldata message, bytes calldata proof) external nonReentrant {
        if (message.srcChainId != block.chainid) revert B_INVALID_CHAINID();
        bytes32 msgHash = hashMessage(message);
        if (messageStatus[msgHash] != Status.NEW) revert B_STATUS_MISMATCH();
        if (!signalService.isSignalSent(address(this), msgHash)) revert B_MESSAGE_NOT_SENT();

        address destBridge = resolver.resolve(message.destChainId, ProtocolNames.BRIDGE, false);
        try signalService.proveSignalReceived(message.destChainId, destBridge, signalForFailedMessage(msgHash), proof) {}
        catch {
            revert B_SIGNAL_NOT_RECEIVED();
        }
        _setStatus(msgHash, Status.RECALLED);
        if (message.value != 0) {
            (bool refunded,) = message.srcOwner.call{value: message.value}("");
            if (!refunded) revert B_REFUND_FAILED();
        }
    }

    /// @notice Whether this bridge sent `message` (it carries this chain's id and its signal is stored).
    function isMessageSent(Message calldata message) external view returns (bool) {
        return message.srcChainId == block.chainid && signalService.isSignalSent(address(this), hashMessage(message));
    }

    /// @notice The signal a destination bridge sends when a message FAILED there: `msgHash ^ 3` (upstream's).
    function signalForFailedMessage(bytes32 msgHash) public pure returns (bytes32) {
        return msgHash ^ bytes32(uint256(Status.FAILED));
    }

    /// @notice The message being invoked right now; reverts outside an invocation.
    function context() external view returns (Context memory ctx) {
        ctx = __ctx;
        if (ctx.msgHash == bytes32(0) || ctx.msgHash == PLACEHOLDER_HASH) revert B_INVALID_CONTEXT();
    }

    /// @notice The hash that identifies a message: `keccak256(abi.encode("TAIKO_MESSAGE", message))`.
    function hashMessage(Message memory message) public pure returns (bytes32) {
        return keccak256(abi.encode("TAIKO_MESSAGE", message));
    }

    /// @notice The gas a relayed message with `dataLength` bytes of data needs beyond its invocation.
    function getMessageMinGasLimit(uint256 dataLength) public pure returns (uint32) {
        return GAS_RESERVE + uint32((((dataLength + 31) / 32) * 32 + 416) * GAS_PER_BYTE);
    }

    /// @dev Calls the message target with the context set. Only `onMessageInvocation` (or data shorter than a
    /// selector) is dispatched. For relayed messages the 1/63 check makes sure the callee really got
    /// `gasLimit` (EIP-150), so a relayer cannot starve the invocation into a RETRIABLE status.
    function _invoke(Message calldata message, bytes32 msgHash, uint256 gasLimit, bool enforceGas)
        private
        returns (bool ok)
    {
        if (message.data.length >= 4 && bytes4(message.data[:4]) != IMessageInvocable.onMessageInvocation.selector) {
            return false;
        }
        __ctx = Context(msgHash, message.from, message.srcChainId);
        (ok,) = message.to.call{value: message.value, gas: gasLimit}(message.data);
        if (enforceGas && gasleft() < gasLimit / 63) {
            assembly {
                invalid()
            }
        }
        __ctx = Context(PLACEHOLDER_HASH, PLACEHOLDER_FROM, PLACEHOLDER_CHAIN);
    }

    function _setStatus(bytes32 msgHash, Status status) private {
        messageStatus[msgHash] = status;
        emit MessageStatusChanged(msgHash, status);
    }

    function _markFailed(bytes32 msgHash) private {
        _setStatus(msgHash, Status.FAILED);
        signalService.sendSignal(signalForFailedMessage(msgHash));
    }
}
