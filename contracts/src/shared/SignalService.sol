// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ProtocolTypes, ProtocolNames, IResolver} from "./ProtocolTypes.sol";
import {LibRLP} from "../lib/LibRLP.sol";
import {LibMPT} from "../lib/LibMPT.sol";

/// @title SignalService
/// @notice Records signals sent on this chain and proves signals sent on the other chain, either through
/// the fast path (the authorized syncer marked the slot received) or through a Merkle proof of the remote
/// signal service's storage against a checkpoint the syncer saved.
/// @dev The storage layout is part of the protocol: `_receivedSignals` lives at slot 253 and `_checkpoints`
/// at slot 254, and sent signals live at raw storage keys `getSignalSlot(...)`.
contract SignalService {
    using LibRLP for LibRLP.Item;

    /// @notice One hop of a storage proof (only single-hop proofs are accepted).
    struct HopProof {
        uint64 chainId;
        uint64 blockId;
        bytes32 rootHash;
        uint8 cacheOption;
        bytes[] accountProof;
        bytes[] storageProof;
    }

    struct StoredCheckpoint {
        bytes32 blockHash;
        bytes32 stateRoot;
    }

    uint256[253] private __gap;
    mapping(bytes32 slot => bool received) private _receivedSignals; // slot 253
    mapping(uint48 blockNumber => StoredCheckpoint) private _checkpoints; // slot 254

    /// @notice The only account that may mark signals received and save checkpoints
    /// (the Anchor on L2, the inbox on L1).
    address public immutable authorizedSyncer;
    /// @notice Where the remote chain's signal service address is looked up.
    IResolver public immutable resolver;

    /// @notice Emitted by `sendSignal`.
    event SignalSent(address app, bytes32 signal, bytes32 slot, bytes32 value);
    /// @notice Emitted for each slot the syncer marks received.
    event SignalsReceived(bytes32[] slots);
    /// @notice Emitted when the syncer saves a checkpoint of the other chain.
    event CheckpointSaved(uint48 indexed blockNumber, bytes32 blockHash, bytes32 stateRoot);

    error SS_UNAUTHORIZED();
    error SS_INVALID_CHECKPOINT();
    error SS_SIGNAL_NOT_RECEIVED();
    error SS_INVALID_PROOF();
    error SS_CHECKPOINT_NOT_FOUND(uint64 blockId);
    error SS_UNSUPPORTED_HOPS(uint256 count);

    constructor(address _authorizedSyncer, address _resolver) {
        authorizedSyncer = _authorizedSyncer;
        resolver = IResolver(_resolver);
    }

    modifier onlySyncer() {
        if (msg.sender != authorizedSyncer) revert SS_UNAUTHORIZED();
        _;
    }

    /// @notice The storage key at which `app`'s `signal` on chain `chainId` is stored.
    function getSignalSlot(uint64 chainId, address app, bytes32 signal) public pure returns (bytes32) {
        return keccak256(abi.encodePacked("SIGNAL", chainId, app, signal));
    }

    /// @notice Stores `signal` for the caller on this chain.
    function sendSignal(bytes32 signal) external returns (bytes32 slot) {
        slot = getSignalSlot(uint64(block.chainid), msg.sender, signal);
        assembly {
            sstore(slot, signal)
        }
        emit SignalSent(msg.sender, signal, slot, signal);
    }

    /// @notice Whether something was stored at the raw storage key `slot`.
    function isSignalSent(bytes32 slot) public view returns (bool sent) {
        assembly {
            sent := iszero(iszero(sload(slot)))
        }
    }

    /// @notice Whether `app` sent `signal` on this chain.
    function isSignalSent(address app, bytes32 signal) external view returns (bool) {
        return isSignalSent(getSignalSlot(uint64(block.chainid), app, signal));
    }

    /// @notice Whether the syncer marked `slot` as received through the fast path.
    function isSignalReceived(bytes32 slot) external view returns (bool) {
        return _receivedSignals[slot];
    }

    /// @notice Marks remote signal slots received (fast path); syncer only.
    function setSignalsReceived(bytes32[] calldata slots) external onlySyncer {
        for (uint256 i; i < slots.length; ++i) {
            _receivedSignals[slots[i]] = true;
        }
        emit SignalsReceived(slots);
    }

    /// @notice Saves a checkpoint of the other chain; syncer only.
    function saveCheckpoint(ProtocolTypes.Checkpoint calldata checkpoint) external onlySyncer {
        if (checkpoint.stateRoot == bytes32(0) || checkpoint.blockHash == bytes32(0)) revert SS_INVALID_CHECKPOINT();
        _checkpoints[checkpoint.blockNumber] = StoredCheckpoint(checkpoint.blockHash, checkpoint.stateRoot);
        emit CheckpointSaved(checkpoint.blockNumber, checkpoint.blockHash, checkpoint.stateRoot);
    }

    /// @notice The checkpoint saved for `blockNumber`; reverts when there is none.
    function getCheckpoint(uint48 blockNumber) external view returns (ProtocolTypes.Checkpoint memory checkpoint) {
        StoredCheckpoint memory c = _checkpoints[blockNumber];
        if (c.stateRoot == bytes32(0)) revert SS_CHECKPOINT_NOT_FOUND(blockNumber);
        checkpoint = ProtocolTypes.Checkpoint(blockNumber, c.blockHash, c.stateRoot);
    }

    /// @notice Reverts unless `app` on `chainId` sent `signal`. An empty proof uses the fast path; otherwise
    /// `proof` is `abi.encode(HopProof[1])`, a storage proof of the remote signal service against a saved
    /// checkpoint. Returns the number of cache operations (always 0: nothing is cached).
    function proveSignalReceived(uint64 chainId, address app, bytes32 signal, bytes calldata proof)
        external
        view
        returns (uint256 numCacheOps)
    {
        bytes32 slot = getSignalSlot(chainId, app, signal);
        if (proof.length == 0) {
            if (!_receivedSignals[slot]) revert SS_SIGNAL_NOT_RECEIVED();
            return 0;
        }
        HopProof[] memory hops = abi.decode(proof, (HopProof[]));
        if (hops.length != 1) revert SS_UNSUPPORTED_HOPS(hops.length);
        HopProof memory hop = hops[0];
        if (hop.chainId != chainId) revert SS_INVALID_PROOF();

        StoredCheckpoint memory c = _checkpoints[uint48(hop.blockId)];
        if (hop.blockId > type(uint48).max || c.stateRoot == bytes32(0)) revert SS_CHECKPOINT_NOT_FOUND(hop.blockId);
        if (c.stateRoot != hop.rootHash) revert SS_INVALID_PROOF();

        address remote = resolver.resolve(chainId, ProtocolNames.SIGNAL_SERVICE, false);
        bytes32 storageRoot = _storageRoot(hop.rootHash, remote, hop.accountProof);
        bytes memory stored = LibMPT.get(abi.encodePacked(keccak256(abi.encode(slot))), hop.storageProof, storageRoot);
        if (keccak256(stored) != keccak256(LibRLP.encodeUint(uint256(signal)))) revert SS_SIGNAL_NOT_RECEIVED();
        return 0;
    }

    /// @notice The `proof` argument of `proveSignalReceived` for `hops` (an ABI helper for clients).
    function encodeHopProofs(HopProof[] calldata hops) external pure returns (bytes memory) {
        return abi.encode(hops);
    }

    /// @dev The storage root of `account` proven against `stateRoot`.
    function _storageRoot(bytes32 stateRoot, address account, bytes[] memory accountProof)
        private
        pure
        returns (bytes32)
    {
        bytes memory rlpAccount = LibMPT.get(abi.encodePacked(keccak256(abi.encodePacked(account))), accountProof, stateRoot);
        if (rlpAccount.length == 0) revert SS_INVALID_PROOF();
        LibRLP.Item[] memory fields = LibRLP.toItem(rlpAccount).readList();
        if (fields.length != 4) revert SS_INVALID_PROOF();
        bytes memory root = fields[2].readBytes();
        if (root.length != 32) revert SS_INVALID_PROOF();
        return bytes32(root);
    }
}
