// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ProtocolTypes} from "./ProtocolTypes.sol";

/// @notice The part of the signal service the anchor drives.
interface IAnchorSignalService {
    function setSignalsReceived(bytes32[] calldata slots) external;
    function saveCheckpoint(ProtocolTypes.Checkpoint calldata checkpoint) external;
}

/// @title Anchor
/// @notice The L2 predeploy every block calls first, from the golden-touch account: it syncs the L1
/// checkpoint, records the parent block hash, marks fast signals received, and checks a hash over the
/// block's ancestors so that a block without its anchor makes the next anchor fail.
/// @notice The part of an ERC-20 token the treasury withdrawal uses.
interface IERC20Balance {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @dev It is also the treasury that receives the non-shared part of the base fee; its owner withdraws it.
contract Anchor {
    /// @notice The account whose transaction opens every block. Its key is public: only the protocol rules
    /// (fixed position, fixed gas, fee exemption) give its transaction meaning.
    address public constant GOLDEN_TOUCH_ADDRESS = 0x0000777735367b36bC9B61C50022d9D0700dB4Ec;

    /// @notice The L2 signal service, whose syncer this contract is.
    IAnchorSignalService public immutable signalService;
    /// @notice The chain the checkpoints come from.
    uint64 public immutable l1ChainId;

    /// @notice Hash over the 255 most recent ancestors' hashes and the chain id, as of the last anchor.
    bytes32 public ancestorsHash;
    /// @notice The L2 block that ran the last anchor.
    uint64 public lastAnchorBlockId;
    /// @notice The newest L1 block whose checkpoint was saved.
    uint48 public lastCheckpointBlockNumber;
    /// @notice Parent hashes recorded by the anchors, by block number.
    mapping(uint256 blockNumber => bytes32 blockHash) public blockHashes;
    /// @notice Who may withdraw the treasury.
    address public owner;

    /// @notice Emitted by every anchor (upstream's signature): the L1 block the previous checkpoint named,
    /// this one's, and the ancestors hash now stored.
    event Anchored(uint48 prevAnchorBlockNumber, uint48 anchorBlockNumber, bytes32 ancestorsHash);
    /// @notice Emitted by `withdraw` (upstream's signature); `token` is zero for ETH.
    event Withdrawn(address token, address to, uint256 amount);

    error L2_SENDER_NOT_GOLDEN_TOUCH();
    error L2_ANCHOR_ALREADY_RAN();
    error L2_ANCESTORS_HASH_MISMATCH();
    error L2_NOT_OWNER();
    error L2_WITHDRAW_FAILED();

    constructor(address _signalService, uint64 _l1ChainId, address _owner) {
        signalService = IAnchorSignalService(_signalService);
        l1ChainId = _l1ChainId;
        owner = _owner;
        // No ancestors yet: the first anchor (block 1) checks against this value.
        ancestorsHash = _emptyRingHash();
    }

    /// @notice Opens a realtime block: saves `l1Checkpoint` when it is newer than the last one and marks
    /// `signalSlots` received (the first block of a proposal carries them, the others pass none).
    function anchorV4WithSignalSlots(ProtocolTypes.Checkpoint calldata l1Checkpoint, bytes32[] calldata signalSlots)
        external
    {
        if (msg.sender != GOLDEN_TOUCH_ADDRESS) revert L2_SENDER_NOT_GOLDEN_TOUCH();
        if (block.number <= lastAnchorBlockId) revert L2_ANCHOR_ALREADY_RAN();

        uint256 parentId = block.number - 1;
        // The previous anchor committed to the ancestors up to its own parent (parentId - 1).
        (bytes32 before, bytes32 next) = _ancestorHashes(parentId);
        if (ancestorsHash != before) revert L2_ANCESTORS_HASH_MISMATCH();
        ancestorsHash = next;

        bytes32 parentHash = blockhash(parentId);
        blockHashes[parentId] = parentHash;
        lastAnchorBlockId = uint64(block.number);

        uint48 previous = lastCheckpointBlockNumber;
        if (l1Checkpoint.blockNumber > previous) {
            signalService.saveCheckpoint(l1Checkpoint);
            lastCheckpointBlockNumber = l1Checkpoint.blockNumber;
        }
        if (signalSlots.length != 0) signalService.setSignalsReceived(signalSlots);

        emit Anchored(previous, l1Checkpoint.blockNumber, next);
    }

    /// @notice Sends the treasury's whole balance of `token` (ETH when zero) to `to`; owner only.
    function withdraw(address token, address to) external {
        if (msg.sender != owner) revert L2_NOT_OWNER();
        uint256 amount;
        if (token == address(0)) {
            amount = address(this).balance;
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert L2_WITHDRAW_FAILED();
        } else {
            amount = IERC20Balance(token).balanceOf(address(this));
            if (!IERC20Balance(token).transfer(to, amount)) revert L2_WITHDRAW_FAILED();
        }
        emit Withdrawn(token, to, amount);
    }

    /// @dev Hashes of a 256-word ring: word `n % 255` holds the hash of block `n` for the 255 most recent
    /// blocks up to some height, word 255 the chain id. Returns the ring's hash up to `parentId - 1` (what
    /// the previous anchor stored) and up to `parentId` (what this anchor stores); filled once, updated in
    /// one word.
    function _ancestorHashes(uint256 parentId) private view returns (bytes32 before, bytes32 next) {
        bytes32[256] memory ring;
        ring[255] = bytes32(block.chainid);
        if (parentId != 0) {
            uint256 lowest = parentId > 255 ? parentId - 255 : 0;
            assembly {
                for { let n := sub(parentId, 1) } 1 { n := sub(n, 1) } {
                    mstore(add(ring, mul(mod(n, 255), 32)), blockhash(n))
                    if eq(n, lowest) { break }
                }
            }
        }
        assembly {
            before := keccak256(ring, 8192)
        }
        ring[parentId % 255] = blockhash(parentId);
        assembly {
            next := keccak256(ring, 8192)
        }
    }

    /// @dev The ring's hash before any block exists: only the chain id is set.
    function _emptyRingHash() private view returns (bytes32 h) {
        bytes32[256] memory ring;
        ring[255] = bytes32(block.chainid);
        assembly {
            h := keccak256(ring, 8192)
        }
    }
}
