// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IProofVerifier} from "./IProofVerifier.sol";

/// @title MockECDSAVerifier
/// @notice The MOCK_ECDSA proof type: a 65-byte `r || s || v` signature by a configured signer over
/// `keccak256(bytes32("VERIFY_PROOF") || uint256(l2ChainId) || uint256(uint160(address(this))) ||
/// commitmentHash || bytes32(0))`, without an EIP-191 prefix.
contract MockECDSAVerifier is IProofVerifier {
    /// @notice The L2 chain whose proposals this verifier accepts.
    uint64 public immutable l2ChainId;
    /// @notice The key that signs mock proofs.
    address public immutable signer;

    error MOCK_INVALID_PROOF_LENGTH(uint256 length);
    error MOCK_INVALID_SIGNATURE();
    error MOCK_WRONG_SIGNER(address recovered);

    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    constructor(uint64 _l2ChainId, address _signer) {
        l2ChainId = _l2ChainId;
        signer = _signer;
    }

    /// @notice The digest a mock proof signs for `commitmentHash`.
    function publicInputHash(bytes32 commitmentHash) public view returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                bytes32("VERIFY_PROOF"),
                uint256(l2ChainId),
                uint256(uint160(address(this))),
                commitmentHash,
                bytes32(0)
            )
        );
    }

    /// @inheritdoc IProofVerifier
    function verifyProof(bytes32 commitmentHash, bytes calldata proof) external view {
        if (proof.length != 65) revert MOCK_INVALID_PROOF_LENGTH(proof.length);
        bytes32 r = bytes32(proof[0:32]);
        bytes32 s = bytes32(proof[32:64]);
        uint8 v = uint8(proof[64]);
        if (v < 27) v += 27;
        if ((v != 27 && v != 28) || uint256(s) > HALF_ORDER) revert MOCK_INVALID_SIGNATURE();
        address recovered = ecrecover(publicInputHash(commitmentHash), v, r, s);
        if (recovered == address(0)) revert MOCK_INVALID_SIGNATURE();
        if (recovered != signer) revert MOCK_WRONG_SIGNER(recovered);
    }
}
