// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title LibRLP
/// @notice A bounds-checked, memory-based RLP reader (and the one encoder the proofs need).
/// Items are views into memory: decoding a list allocates only the item table, not copies.
library LibRLP {
    /// @notice A view of one RLP item: `ptr` is where its encoding (prefix included) starts, `len` its size.
    struct Item {
        uint256 ptr;
        uint256 len;
    }

    error RLP_EMPTY_ITEM();
    error RLP_OUT_OF_BOUNDS();
    error RLP_NOT_A_LIST();
    error RLP_NOT_A_STRING();
    error RLP_TRAILING_BYTES();

    /// @notice Wraps a whole byte array as one item; the encoding must fill it exactly.
    function toItem(bytes memory data) internal pure returns (Item memory item) {
        uint256 ptr;
        assembly {
            ptr := add(data, 32)
        }
        item = Item(ptr, data.length);
        (uint256 offset, uint256 payloadLen,) = _header(item);
        if (offset + payloadLen != item.len) revert RLP_TRAILING_BYTES();
    }

    /// @notice True when the item is a list.
    function isList(Item memory item) internal pure returns (bool list) {
        (,, list) = _header(item);
    }

    /// @notice The items of a list, in order.
    function readList(Item memory item) internal pure returns (Item[] memory items) {
        (uint256 offset, uint256 payloadLen, bool list) = _header(item);
        if (!list) revert RLP_NOT_A_LIST();
        uint256 start = item.ptr + offset;
        uint256 end = start + payloadLen;

        uint256 count;
        for (uint256 p = start; p < end; count++) {
            p += _itemLength(p, end - p);
        }
        items = new Item[](count);
        uint256 q = start;
        for (uint256 i; i < count; i++) {
            uint256 l = _itemLength(q, end - q);
            items[i] = Item(q, l);
            q += l;
        }
    }

    /// @notice The payload of a string item, copied.
    function readBytes(Item memory item) internal pure returns (bytes memory out) {
        (uint256 offset, uint256 payloadLen, bool list) = _header(item);
        if (list) revert RLP_NOT_A_STRING();
        out = _copy(item.ptr + offset, payloadLen);
    }

    /// @notice The whole encoding of an item (prefix included), copied.
    function rawBytes(Item memory item) internal pure returns (bytes memory out) {
        out = _copy(item.ptr, item.len);
    }

    /// @notice RLP encoding of an unsigned integer (big-endian, no leading zeros; zero is the empty string).
    function encodeUint(uint256 value) internal pure returns (bytes memory out) {
        if (value == 0) return hex"80";
        if (value < 0x80) {
            out = new bytes(1);
            out[0] = bytes1(uint8(value));
            return out;
        }
        uint256 n;
        for (uint256 v = value; v != 0; v >>= 8) {
            n++;
        }
        out = new bytes(n + 1);
        out[0] = bytes1(uint8(0x80 + n));
        for (uint256 i; i < n; i++) {
            out[n - i] = bytes1(uint8(value >> (8 * i)));
        }
    }

    /// @dev Length of the item starting at `ptr`, checked against the `available` bytes.
    function _itemLength(uint256 ptr, uint256 available) private pure returns (uint256 len) {
        (uint256 offset, uint256 payloadLen,) = _header(Item(ptr, available));
        len = offset + payloadLen;
    }

    /// @dev Decodes the prefix: where the payload starts (relative), how long it is, and the item kind.
    /// Every length is checked against `item.len`, so a hostile encoding cannot read past its buffer.
    function _header(Item memory item) private pure returns (uint256 offset, uint256 payloadLen, bool list) {
        if (item.len == 0) revert RLP_EMPTY_ITEM();
        uint256 ptr = item.ptr;
        uint256 b0;
        assembly {
            b0 := byte(0, mload(ptr))
        }
        if (b0 < 0x80) {
            return (0, 1, false);
        } else if (b0 < 0xb8) {
            (offset, payloadLen, list) = (1, b0 - 0x80, false);
        } else if (b0 < 0xc0) {
            offset = 1 + (b0 - 0xb7);
            payloadLen = _readLength(ptr, b0 - 0xb7, item.len);
        } else if (b0 < 0xf8) {
            (offset, payloadLen, list) = (1, b0 - 0xc0, true);
        } else {
            offset = 1 + (b0 - 0xf7);
            payloadLen = _readLength(ptr, b0 - 0xf7, item.len);
            list = true;
        }
        if (offset > item.len || payloadLen > item.len - offset) revert RLP_OUT_OF_BOUNDS();
    }

    /// @dev Big-endian length of `lenOfLen` bytes following the prefix byte.
    function _readLength(uint256 ptr, uint256 lenOfLen, uint256 available) private pure returns (uint256 len) {
        if (lenOfLen + 1 > available) revert RLP_OUT_OF_BOUNDS();
        assembly {
            len := shr(sub(256, mul(8, lenOfLen)), mload(add(ptr, 1)))
        }
    }

    /// @dev Copies `len` bytes from memory address `src` into a new array (word by word: no MCOPY on Shanghai).
    function _copy(uint256 src, uint256 len) private pure returns (bytes memory out) {
        out = new bytes(len);
        uint256 dst;
        assembly {
            dst := add(out, 32)
        }
        for (uint256 i; i < len; i += 32) {
            assembly {
                mstore(add(dst, i), mload(add(src, i)))
            }
        }
        // The last word may have copied bytes past `len`; clear them so the array stays canonical.
        assembly {
            mstore(add(dst, len), 0)
        }
    }
}
