// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ProtocolTypes} from "../shared/ProtocolTypes.sol";
import {IProofVerifier} from "./IProofVerifier.sol";

/// @notice The part of the L1 signal service the inbox uses.
interface IInboxSignalService {
    function isSignalSent(bytes32 slot) external view returns (bool);
    function saveCheckpoint(ProtocolTypes.Checkpoint calldata checkpoint) external;
}

/// @title RealTimeInbox
/// @notice Accepts proposals that are proven in the same transaction. A proposal either commits directly
/// (`propose`) or in two steps inside one transaction (`tentativePropose`, then L1 calls, then
/// `finalizePropose`), so that return signals produced by those L1 calls can be required. Only the proposer
/// (the proposer Multicall) may propose: a `tentativePropose` sent on its own would commit "required"
/// return signals that no L1 call produced, and L2 has already marked them received.
contract RealTimeInbox {
    /// @notice Which blobs of the proposing transaction carry the L2 data.
    struct BlobReference {
        uint16 blobStartIndex;
        uint16 numBlobs;
        uint24 offset;
    }

    /// @notice The input of `propose`.
    struct ProposeInput {
        BlobReference blobReference;
        bytes32[] signalSlots;
        uint48 maxAnchorBlockNumber;
    }

    /// @notice The input of `tentativePropose`.
    struct ProposeInputV2 {
        BlobReference blobReference;
        bytes32[] existingSignals;
        bytes32[] requiredReturnSignals;
        uint48 maxAnchorBlockNumber;
    }

    /// @notice Blobs holding part of a proposal's data.
    struct BlobSlice {
        bytes32[] blobHashes;
        uint24 offset;
        uint48 timestamp;
    }

    /// @notice Where a proposal's blocks are derived from.
    struct DerivationSource {
        bool isForcedInclusion;
        BlobSlice blobSlice;
    }

    /// @notice What a proof commits to about the proposal itself.
    struct Proposal {
        uint48 maxAnchorBlockNumber;
        bytes32 maxAnchorBlockHash;
        uint8 basefeeSharingPctg;
        DerivationSource[] sources;
        bytes32 signalSlotsHash;
    }

    /// @notice The statement a proof proves.
    struct Commitment {
        bytes32 proposalHash;
        bytes32 lastFinalizedBlockHash;
        ProtocolTypes.Checkpoint checkpoint;
    }

    /// @notice The inbox's fixed configuration.
    struct Config {
        address proofVerifier;
        address signalService;
        uint8 basefeeSharingPctg;
        address proposer;
        bool openPropose;
    }

    /// @notice The account that activates the inbox.
    address public owner;
    /// @notice Hash of the last L2 block proven on L1 (the L2 genesis hash after activation).
    bytes32 public lastFinalizedBlockHash;
    /// @notice Number of accepted proposals.
    uint64 public numProposals;

    IProofVerifier private immutable _verifier;
    IInboxSignalService private immutable _signalService;
    uint8 private immutable _basefeeSharingPctg;
    address private immutable _proposer;
    bool private immutable _openPropose;

    bool private transient _pending;
    bytes32 private transient _pendingRequiredHash;

    /// @notice Emitted for every accepted proposal (upstream's signature): `lastFinalizedBlockHash` is the
    /// L2 block it builds on, `signalSlots` the anchor's slot list, in order.
    event ProposedAndProved(
        bytes32 indexed proposalHash,
        bytes32 lastFinalizedBlockHash,
        uint48 maxAnchorBlockNumber,
        uint8 basefeeSharingPctg,
        DerivationSource[] sources,
        bytes32[] signalSlots,
        ProtocolTypes.Checkpoint checkpoint
    );
    /// @notice Emitted by `tentativePropose` (upstream's signature): the proposal is final only once
    /// `finalizePropose` succeeds in the same transaction. `proposalId` is the proposal hash.
    event TentativeProposed(bytes32 indexed proposalId, bytes32 requiredReturnSignalsHash);
    /// @notice Emitted when a tentative proposal's required signals were all produced.
    event ProposalFinalized(bytes32 requiredSignalsHash);
    /// @notice Emitted once, by `activate`.
    event Activated(bytes32 l2GenesisBlockHash);

    error NotOwner();
    error AlreadyActivated();
    error NotActivated();
    error InvalidGenesisHash();
    error NoBlobs();
    error BlobNotFound(uint256 index);
    error InvalidMaxAnchorBlock(uint48 blockNumber);
    error InvalidBasefeeSharingPctg(uint8 pctg);
    error SignalSlotNotSent(bytes32 slot);
    error RequiredSignalNotSent(bytes32 slot);
    error RequiredSignalsMismatch();
    error PendingProposalExists();
    error NoPendingProposal();
    error NotProposer(address caller);

    /// @param proposer The only account that may call `tentativePropose` and `finalizePropose` (the
    /// proposer Multicall), and `propose` unless `openPropose`.
    constructor(
        address _owner,
        address verifier,
        address signalService,
        uint8 basefeeSharingPctg,
        address proposer,
        bool openPropose
    ) {
        if (basefeeSharingPctg > 100) revert InvalidBasefeeSharingPctg(basefeeSharingPctg);
        owner = _owner;
        _verifier = IProofVerifier(verifier);
        _signalService = IInboxSignalService(signalService);
        _basefeeSharingPctg = basefeeSharingPctg;
        _proposer = proposer;
        _openPropose = openPropose;
    }

    modifier onlyProposer() {
        if (msg.sender != _proposer) revert NotProposer(msg.sender);
        _;
    }

    /// @notice The inbox configuration.
    function getConfig() external view returns (Config memory) {
        return Config(address(_verifier), address(_signalService), _basefeeSharingPctg, _proposer, _openPropose);
    }

    /// @notice Starts the chain at the L2 genesis block; owner only, once.
    function activate(bytes32 l2GenesisBlockHash) external {
        if (msg.sender != owner) revert NotOwner();
        if (lastFinalizedBlockHash != bytes32(0)) revert AlreadyActivated();
        if (l2GenesisBlockHash == bytes32(0)) revert InvalidGenesisHash();
        lastFinalizedBlockHash = l2GenesisBlockHash;
        emit Activated(l2GenesisBlockHash);
    }

    /// @notice Proposes and proves L2 blocks in one step. `data` is `abi.encode(ProposeInput)`.
    function propose(bytes calldata data, ProtocolTypes.Checkpoint calldata checkpoint, bytes calldata proof)
        external
    {
        if (!_openPropose && msg.sender != _proposer) revert NotProposer(msg.sender);
        if (_pending) revert PendingProposalExists();
        ProposeInput memory input = abi.decode(data, (ProposeInput));
        _requireSent(input.signalSlots, false);
        _accept(input.blobReference, input.maxAnchorBlockNumber, input.signalSlots, checkpoint, proof);
    }

    /// @notice First half of a deferred proposal. `data` is `abi.encode(ProposeInputV2)`. Only the existing
    /// signals must be sent now; the required return signals are checked by `finalizePropose` later in the
    /// same transaction.
    function tentativePropose(bytes calldata data, ProtocolTypes.Checkpoint calldata checkpoint, bytes calldata proof)
        external
        onlyProposer
        returns (bytes32 proposalHash)
    {
        if (_pending) revert PendingProposalExists();
        ProposeInputV2 memory input = abi.decode(data, (ProposeInputV2));
        _requireSent(input.existingSignals, false);
        bytes32[] memory all = _concat(input.existingSignals, input.requiredReturnSignals);
        proposalHash = _accept(input.blobReference, input.maxAnchorBlockNumber, all, checkpoint, proof);
        _pending = true;
        _pendingRequiredHash = hashSignalSlots(input.requiredReturnSignals);
        emit TentativeProposed(proposalHash, _pendingRequiredHash);
    }

    /// @notice Second half of a deferred proposal: `requiredReturnSignals` must be the list given to
    /// `tentativePropose`, and every slot in it must now be sent on L1.
    function finalizePropose(bytes32[] calldata requiredReturnSignals) external onlyProposer {
        if (!_pending) revert NoPendingProposal();
        bytes32 h = hashSignalSlots(requiredReturnSignals);
        if (h != _pendingRequiredHash) revert RequiredSignalsMismatch();
        _requireSent(requiredReturnSignals, true);
        _pending = false;
        _pendingRequiredHash = bytes32(0);
        emit ProposalFinalized(h);
    }

    /// @notice The `data` argument of `propose` for `input` (an ABI helper for clients).
    function encodeProposeInput(ProposeInput calldata input) external pure returns (bytes memory) {
        return abi.encode(input);
    }

    /// @notice The `data` argument of `tentativePropose` for `input` (an ABI helper for clients).
    function encodeProposeInputV2(ProposeInputV2 calldata input) external pure returns (bytes memory) {
        return abi.encode(input);
    }

    /// @notice `0` for an empty list, else `keccak256(abi.encode(slots))`.
    function hashSignalSlots(bytes32[] memory slots) public pure returns (bytes32) {
        return slots.length == 0 ? bytes32(0) : keccak256(abi.encode(slots));
    }

    /// @notice The hash a proof commits to for `proposal`.
    function hashProposal(Proposal memory proposal) public pure returns (bytes32) {
        return keccak256(abi.encode(proposal));
    }

    /// @notice The hash a proof proves.
    function hashCommitment(Commitment memory commitment) public pure returns (bytes32) {
        return keccak256(abi.encode(commitment));
    }

    function _accept(
        BlobReference memory blobs,
        uint48 maxAnchorBlockNumber,
        bytes32[] memory signalSlots,
        ProtocolTypes.Checkpoint calldata checkpoint,
        bytes calldata proof
    ) private returns (bytes32 proposalHash) {
        bytes32 parent = lastFinalizedBlockHash;
        if (parent == bytes32(0)) revert NotActivated();

        Proposal memory p;
        p.maxAnchorBlockNumber = maxAnchorBlockNumber;
        p.maxAnchorBlockHash = blockhash(maxAnchorBlockNumber);
        if (p.maxAnchorBlockHash == bytes32(0)) revert InvalidMaxAnchorBlock(maxAnchorBlockNumber);
        p.basefeeSharingPctg = _basefeeSharingPctg;
        p.sources = new DerivationSource[](1);
        p.sources[0] = DerivationSource(false, BlobSlice(_blobHashes(blobs), blobs.offset, 0));
        p.signalSlotsHash = hashSignalSlots(signalSlots);

        proposalHash = hashProposal(p);
        _verifier.verifyProof(hashCommitment(Commitment(proposalHash, parent, checkpoint)), proof);

        _signalService.saveCheckpoint(checkpoint);
        lastFinalizedBlockHash = checkpoint.blockHash;
        numProposals++;
        emit ProposedAndProved(
            proposalHash, parent, maxAnchorBlockNumber, p.basefeeSharingPctg, p.sources, signalSlots, checkpoint
        );
    }

    function _blobHashes(BlobReference memory blobs) private view returns (bytes32[] memory hashes) {
        if (blobs.numBlobs == 0) revert NoBlobs();
        hashes = new bytes32[](blobs.numBlobs);
        for (uint256 i; i < blobs.numBlobs; ++i) {
            uint256 index = uint256(blobs.blobStartIndex) + i;
            bytes32 h = blobhash(index);
            if (h == bytes32(0)) revert BlobNotFound(index);
            hashes[i] = h;
        }
    }

    function _requireSent(bytes32[] memory slots, bool required) private view {
        for (uint256 i; i < slots.length; ++i) {
            if (!_signalService.isSignalSent(slots[i])) {
                if (required) revert RequiredSignalNotSent(slots[i]);
                revert SignalSlotNotSent(slots[i]);
            }
        }
    }

    function _concat(bytes32[] memory a, bytes32[] memory b) private pure returns (bytes32[] memory out) {
        out = new bytes32[](a.length + b.length);
        for (uint256 i; i < a.length; ++i) {
            out[i] = a[i];
        }
        for (uint256 i; i < b.length; ++i) {
            out[a.length + i] = b[i];
        }
    }
}
