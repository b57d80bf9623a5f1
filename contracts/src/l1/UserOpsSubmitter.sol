// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title UserOpsSubmitter
/// @notice A user's L1 wallet for user ops: it runs a batch of calls its owner signed (EIP-712, domain
/// ("UserOpsSubmitter", "1", chain id, this wallet)), all or nothing, once, before a deadline.
/// @dev Upstream's wallet signs `ExecuteBatch(UserOp[] ops)` alone, so a signed batch can be replayed. Here
/// the signed struct also carries the wallet's next nonce and a deadline (unix seconds), so its typehash is
/// `ExecuteBatch(UserOp[] ops,uint256 nonce,uint256 deadline)UserOp(address target,uint256 value,bytes data)`
/// and `executeBatch` takes them as arguments: a batch signed for upstream's wallet does not verify here.
contract UserOpsSubmitter {
    /// @notice One call of a batch.
    struct UserOp {
        address target;
        uint256 value;
        bytes data;
    }

    bytes32 public constant USER_OP_TYPEHASH = keccak256("UserOp(address target,uint256 value,bytes data)");
    bytes32 public constant EXECUTE_BATCH_TYPEHASH = keccak256(
        "ExecuteBatch(UserOp[] ops,uint256 nonce,uint256 deadline)UserOp(address target,uint256 value,bytes data)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @dev secp256k1's order halved: a higher `s` is the malleable twin of a valid signature.
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice Who signs its batches.
    address public immutable owner;
    /// @notice The nonce the next batch must carry.
    uint256 public nonce;

    error InvalidSignature();
    error WrongNonce(uint256 expected, uint256 given);
    error Expired(uint256 deadline, uint256 now_);
    error CallFailed(uint256 index, bytes reason);

    event BatchExecuted(uint256 indexed nonce, uint256 ops);

    constructor(address _owner) {
        owner = _owner;
    }

    receive() external payable {}

    /// @notice The EIP-712 domain separator (name "UserOpsSubmitter", version "1", this chain, this wallet).
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("UserOpsSubmitter"), keccak256("1"), block.chainid, address(this))
        );
    }

    /// @notice The digest the owner signs for `ops` at `_nonce` before `deadline`.
    function digest(UserOp[] calldata ops, uint256 _nonce, uint256 deadline) public view returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](ops.length);
        for (uint256 i; i < ops.length; ++i) {
            hashes[i] = keccak256(abi.encode(USER_OP_TYPEHASH, ops[i].target, ops[i].value, keccak256(ops[i].data)));
        }
        bytes32 structHash =
            keccak256(abi.encode(EXECUTE_BATCH_TYPEHASH, keccak256(abi.encodePacked(hashes)), _nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice Runs `ops` in order, all or nothing, if the owner signed them (65-byte `signature`) for the
    /// wallet's next nonce `_nonce` and `deadline` has not passed.
    function executeBatch(UserOp[] calldata ops, uint256 _nonce, uint256 deadline, bytes calldata signature)
        external
        payable
    {
        if (block.timestamp > deadline) revert Expired(deadline, block.timestamp);
        if (_nonce != nonce) revert WrongNonce(nonce, _nonce);
        if (_recover(digest(ops, _nonce, deadline), signature) != owner) revert InvalidSignature();
        nonce = _nonce + 1;
        for (uint256 i; i < ops.length; ++i) {
            (bool ok, bytes memory reason) = ops[i].target.call{ value: ops[i].value }(ops[i].data);
            if (!ok) revert CallFailed(i, reason);
        }
        emit BatchExecuted(_nonce, ops.length);
    }

    function _recover(bytes32 hash, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(hash, v, r, s);
    }
}

/// @title UserOpsFactory
/// @notice Deploys each owner's wallet at an address known in advance (CREATE2, salt = the owner), so a new
/// owner's first batch can name its wallet before it exists; the bundle that runs it deploys it first.
contract UserOpsFactory {
    event WalletCreated(address indexed owner, address wallet);

    /// @notice The wallet of `owner`, deployed or not.
    function walletOf(address owner) public view returns (address) {
        bytes32 initCodeHash = keccak256(abi.encodePacked(type(UserOpsSubmitter).creationCode, abi.encode(owner)));
        bytes32 salt = bytes32(uint256(uint160(owner)));
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, initCodeHash)))));
    }

    /// @notice Deploys the wallet of `owner` unless it exists; its address either way.
    function createWallet(address owner) external returns (address wallet) {
        wallet = walletOf(owner);
        if (wallet.code.length == 0) {
            new UserOpsSubmitter{ salt: bytes32(uint256(uint160(owner))) }(owner);
            emit WalletCreated(owner, wallet);
        }
    }
}
