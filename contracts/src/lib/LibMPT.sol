// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LibRLP} from "./LibRLP.sol";

/// @title LibMPT
/// @notice Merkle-Patricia trie proof verification, for proofs as `eth_getProof` returns them.
/// Nodes shorter than 32 bytes are embedded in their parent rather than hashed; the verifier follows them
/// in place, and also accepts provers that list such an embedded node as a proof element of its own.
library LibMPT {
    using LibRLP for LibRLP.Item;

    error MPT_PROOF_TOO_SHORT();
    error MPT_BAD_NODE_HASH(uint256 index);
    error MPT_BAD_NODE();
    error MPT_BAD_CHILD_REFERENCE();
    error MPT_UNUSED_PROOF_NODES();

    /// @notice The value stored under `key` in the trie with root `root`, or empty bytes when the proof
    /// shows the key is absent. Reverts when the proof does not belong to `root`.
    function get(bytes memory key, bytes[] memory proof, bytes32 root) internal pure returns (bytes memory value) {
        bytes memory nibbles = _toNibbles(key);
        uint256 keyIdx;
        uint256 proofIdx;
        bytes32 expectedHash = root;
        bytes memory embedded;

        while (true) {
            bytes memory node;
            if (embedded.length != 0) {
                node = embedded;
                if (proofIdx < proof.length && keccak256(proof[proofIdx]) == keccak256(node)) proofIdx++;
            } else {
                if (proofIdx >= proof.length) revert MPT_PROOF_TOO_SHORT();
                node = proof[proofIdx];
                if (keccak256(node) != expectedHash) revert MPT_BAD_NODE_HASH(proofIdx);
                proofIdx++;
            }

            LibRLP.Item[] memory items = LibRLP.toItem(node).readList();
            bool done;
            if (items.length == 17) {
                if (keyIdx == nibbles.length) {
                    value = items[16].readBytes();
                    break;
                }
                (done, expectedHash, embedded) = _childRef(items[uint8(nibbles[keyIdx])]);
                keyIdx++;
                if (done) break; // empty branch slot: the key is absent
            } else if (items.length == 2) {
                (bool leaf, bytes memory path) = _decodeHexPrefix(items[0].readBytes());
                uint256 shared = _sharedPrefix(path, nibbles, keyIdx);
                if (leaf) {
                    if (shared == path.length && keyIdx + shared == nibbles.length) value = items[1].readBytes();
                    break;
                }
                if (shared != path.length) break; // the extension leads elsewhere: absent
                keyIdx += shared;
                (done, expectedHash, embedded) = _childRef(items[1]);
                if (done) revert MPT_BAD_NODE();
            } else {
                revert MPT_BAD_NODE();
            }
        }
        if (proofIdx != proof.length) revert MPT_UNUSED_PROOF_NODES();
    }

    /// @dev How a node refers to a child: empty (none), a 32-byte hash, or an embedded node.
    function _childRef(LibRLP.Item memory item)
        private
        pure
        returns (bool empty, bytes32 hash, bytes memory embedded)
    {
        if (item.isList()) {
            if (item.len >= 32) revert MPT_BAD_CHILD_REFERENCE();
            return (false, bytes32(0), item.rawBytes());
        }
        bytes memory b = item.readBytes();
        if (b.length == 0) return (true, bytes32(0), embedded);
        if (b.length != 32) revert MPT_BAD_CHILD_REFERENCE();
        return (false, bytes32(b), embedded);
    }

    /// @dev Hex-prefix decoding: the leaf flag and the path as one nibble per byte.
    function _decodeHexPrefix(bytes memory hp) private pure returns (bool leaf, bytes memory path) {
        if (hp.length == 0) revert MPT_BAD_NODE();
        uint8 flag = uint8(hp[0]) >> 4;
        if (flag > 3) revert MPT_BAD_NODE();
        leaf = flag >= 2;
        bool odd = flag & 1 == 1;
        if (!odd && uint8(hp[0]) & 0x0f != 0) revert MPT_BAD_NODE();
        uint256 n = (hp.length - 1) * 2 + (odd ? 1 : 0);
        path = new bytes(n);
        uint256 j;
        if (odd) path[j++] = bytes1(uint8(hp[0]) & 0x0f);
        for (uint256 i = 1; i < hp.length; i++) {
            path[j++] = bytes1(uint8(hp[i]) >> 4);
            path[j++] = bytes1(uint8(hp[i]) & 0x0f);
        }
    }

    /// @dev Number of leading nibbles `path` shares with `key[from:]`.
    function _sharedPrefix(bytes memory path, bytes memory key, uint256 from) private pure returns (uint256 n) {
        while (n < path.length && from + n < key.length && path[n] == key[from + n]) {
            n++;
        }
    }

    function _toNibbles(bytes memory b) private pure returns (bytes memory nibbles) {
        nibbles = new bytes(b.length * 2);
        for (uint256 i; i < b.length; i++) {
            nibbles[2 * i] = bytes1(uint8(b[i]) >> 4);
            nibbles[2 * i + 1] = bytes1(uint8(b[i]) & 0x0f);
        }
    }
}
