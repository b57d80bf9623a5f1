// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IProofVerifier} from "./IProofVerifier.sol";

/// @title SurgeVerifier
/// @notice Routes a composite proof (`abi.encode(SubProof[])`) to one verifier per proof type and accepts
/// it when every required proof type was verified.
contract SurgeVerifier is IProofVerifier {
    /// @notice One proof of one type; `proofBitFlag` has exactly one bit set.
    struct SubProof {
        uint8 proofBitFlag;
        bytes data;
    }

    uint8 public constant MOCK_ECDSA = 1;
    uint8 public constant RISC0 = 2;
    uint8 public constant SP1 = 4;
    uint8 public constant ZISK = 8;

    /// @notice The account that configures verifiers.
    address public owner;
    /// @notice The proof types a composite proof must contain (a bit mask).
    uint8 public requiredProofs;
    /// @notice The verifier of each proof type.
    mapping(uint8 proofBitFlag => address verifier) public verifiers;

    /// @notice Emitted when a proof type's verifier changes.
    event VerifierSet(uint8 indexed proofBitFlag, address verifier);
    /// @notice Emitted when the required proof types change.
    event RequiredProofsSet(uint8 requiredProofs);

    error SV_NOT_OWNER();
    error SV_INVALID_FLAG(uint8 flag);
    error SV_DUPLICATE_PROOF(uint8 flag);
    error SV_NO_VERIFIER(uint8 flag);
    error SV_MISSING_PROOFS(uint8 have, uint8 required);
    error SV_LENGTH_MISMATCH();

    constructor(address _owner, uint8 _requiredProofs, uint8[] memory flags, address[] memory _verifiers) {
        if (flags.length != _verifiers.length) revert SV_LENGTH_MISMATCH();
        owner = _owner;
        requiredProofs = _requiredProofs;
        emit RequiredProofsSet(_requiredProofs);
        for (uint256 i; i < flags.length; ++i) {
            _setVerifier(flags[i], _verifiers[i]);
        }
    }

    /// @notice Sets the verifier of one proof type.
    function setVerifier(uint8 flag, address verifier) external {
        if (msg.sender != owner) revert SV_NOT_OWNER();
        _setVerifier(flag, verifier);
    }

    /// @notice Sets which proof types are required.
    function setRequiredProofs(uint8 mask) external {
        if (msg.sender != owner) revert SV_NOT_OWNER();
        requiredProofs = mask;
        emit RequiredProofsSet(mask);
    }

    /// @inheritdoc IProofVerifier
    function verifyProof(bytes32 commitmentHash, bytes calldata proof) external view {
        SubProof[] memory subProofs = abi.decode(proof, (SubProof[]));
        uint8 seen;
        for (uint256 i; i < subProofs.length; ++i) {
            uint8 flag = subProofs[i].proofBitFlag;
            if (!_isSingleFlag(flag)) revert SV_INVALID_FLAG(flag);
            if (seen & flag != 0) revert SV_DUPLICATE_PROOF(flag);
            address verifier = verifiers[flag];
            if (verifier == address(0)) revert SV_NO_VERIFIER(flag);
            IProofVerifier(verifier).verifyProof(commitmentHash, subProofs[i].data);
            seen |= flag;
        }
        if (seen & requiredProofs != requiredProofs || seen == 0) revert SV_MISSING_PROOFS(seen, requiredProofs);
    }

    /// @notice The `proof` argument of `verifyProof` for `subProofs` (an ABI helper for clients).
    function encodeSubProofs(SubProof[] calldata subProofs) external pure returns (bytes memory) {
        return abi.encode(subProofs);
    }

    function _setVerifier(uint8 flag, address verifier) private {
        if (!_isSingleFlag(flag)) revert SV_INVALID_FLAG(flag);
        verifiers[flag] = verifier;
        emit VerifierSet(flag, verifier);
    }

    function _isSingleFlag(uint8 flag) private pure returns (bool) {
        return flag != 0 && flag & (flag - 1) == 0 && flag <= ZISK;
    }
}
