// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice A verifier of proposal proofs; reverts when the proof does not prove `commitmentHash`.
interface IProofVerifier {
    function verifyProof(bytes32 commitmentHash, bytes calldata proof) external view;
}
