// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBridge} from "../src/shared/IBridge.sol";
import {ExampleERC20} from "./ExampleERC20.sol";
import {RoundTripL1, RoundTripL2} from "./RoundTrip.sol";

/// @title SwapToken
/// @notice The L1 token the example pool trades against ETH; the whole supply goes to `holder`.
contract SwapToken is ExampleERC20 {
    constructor(address holder, uint256 supply) ExampleERC20("Surge Example Token", "SET") {
        _mint(holder, supply);
    }
}

/// @title ConstantProductPool
/// @notice An L1 ETH/token pool with the constant-product rule and a 0.3% fee on the input:
/// `out = in·9970·reserveToken / (reserveETH·10000 + in·9970)`.
contract ConstantProductPool {
    /// @notice The fee on the input amount, in basis points.
    uint256 public constant FEE_BPS = 30;

    /// @notice The token traded against ETH.
    ExampleERC20 public immutable token;
    /// @notice Who may add liquidity.
    address public immutable owner;
    /// @notice ETH in the pool.
    uint256 public reserveETH;
    /// @notice Tokens in the pool.
    uint256 public reserveToken;

    event LiquidityAdded(uint256 eth, uint256 tokens);
    event LiquidityRemoved(uint256 eth, uint256 tokens);
    event Swapped(address indexed to, uint256 ethIn, uint256 tokensOut);

    error POOL_NOT_OWNER(address caller);
    error POOL_NO_INPUT();
    error POOL_SLIPPAGE(uint256 out, uint256 minOut);
    error POOL_TRANSFER_FAILED();

    constructor(ExampleERC20 _token, address _owner) {
        token = _token;
        owner = _owner;
    }

    /// @notice Adds `msg.value` ETH and `tokens` (pulled from the owner, who approved them) to the reserves.
    function addLiquidity(uint256 tokens) external payable {
        if (msg.sender != owner) revert POOL_NOT_OWNER(msg.sender);
        token.transferFrom(msg.sender, address(this), tokens);
        reserveETH += msg.value;
        reserveToken += tokens;
        emit LiquidityAdded(msg.value, tokens);
    }

    /// @notice Takes `eth` and `tokens` out of the reserves and sends them to `to`; owner only.
    function removeLiquidity(uint256 eth, uint256 tokens, address to) external {
        if (msg.sender != owner) revert POOL_NOT_OWNER(msg.sender);
        reserveETH -= eth;
        reserveToken -= tokens;
        token.transfer(to, tokens);
        (bool sent,) = to.call{value: eth}("");
        if (!sent) revert POOL_TRANSFER_FAILED();
        emit LiquidityRemoved(eth, tokens);
    }

    /// @notice The tokens `ethIn` buys now.
    function getAmountOut(uint256 ethIn) public view returns (uint256) {
        uint256 inWithFee = ethIn * (10_000 - FEE_BPS);
        return inWithFee * reserveToken / (reserveETH * 10_000 + inWithFee);
    }

    /// @notice Swaps `msg.value` ETH for at least `minOut` tokens, sent to `to`.
    function swapETHForToken(uint256 minOut, address to) external payable returns (uint256 out) {
        if (msg.value == 0) revert POOL_NO_INPUT();
        out = getAmountOut(msg.value);
        if (out == 0 || out < minOut) revert POOL_SLIPPAGE(out, minOut);
        reserveETH += msg.value;
        reserveToken -= out;
        token.transfer(to, out);
        emit Swapped(to, msg.value, out);
    }
}

/// @title SwapVaultL1
/// @notice Swaps the ETH an L2 swap request carries on the L1 pool and answers with the amount bought.
/// The tokens stay here, backing the representation the L2 vault credits.
contract SwapVaultL1 is RoundTripL1 {
    /// @notice The pool swaps go through.
    ConstantProductPool public immutable pool;

    event SwapExecuted(bytes32 indexed requestHash, address indexed user, uint256 ethIn, uint256 tokensOut);

    constructor(IBridge _bridge, uint64 _l2ChainId, address _l2Vault, ConstantProductPool _pool)
        RoundTripL1(_bridge, _l2ChainId, _l2Vault)
    {
        pool = _pool;
    }

    /// @dev Request `abi.encode(user, minOut)`; result `abi.encode(user, tokensOut)`. A swap below `minOut`
    /// reverts, so no answer is sent and the L2 transaction cannot complete.
    function _handle(bytes32 requestHash, bytes calldata payload, uint256 value)
        internal
        override
        returns (bytes memory)
    {
        (address user, uint256 minOut) = abi.decode(payload, (address, uint256));
        uint256 out = pool.swapETHForToken{value: value}(minOut, address(this));
        emit SwapExecuted(requestHash, user, value, out);
        return abi.encode(user, out);
    }
}

/// @title BridgedSwapToken
/// @notice The L2 representation of the L1 `SwapToken`, minted only by the L2 swap vault.
contract BridgedSwapToken is ExampleERC20 {
    /// @notice The only minter.
    address public immutable vault;

    error BST_NOT_VAULT(address caller);

    constructor(address _vault) ExampleERC20("Bridged Surge Example Token", "bSET") {
        vault = _vault;
    }

    /// @notice Mints `amount` to `to`; vault only.
    function mint(address to, uint256 amount) external {
        if (msg.sender != vault) revert BST_NOT_VAULT(msg.sender);
        _mint(to, amount);
    }
}

/// @title SwapVaultL2
/// @notice Swaps ETH for the L1 token in one L2 transaction: the ETH goes to the L1 vault, which swaps it
/// on L1 and answers; this vault credits the caller with the bridged token — or the transaction reverts.
contract SwapVaultL2 is RoundTripL2 {
    /// @notice The L2 representation of the L1 token.
    BridgedSwapToken public immutable token;

    event SwapCompleted(bytes32 indexed requestHash, address indexed user, uint256 ethIn, uint256 tokensOut);

    error SV_NO_VALUE();
    error SV_SLIPPAGE(uint256 out, uint256 minOut);

    constructor(IBridge _bridge, uint64 _l1ChainId, address _l1Vault, BridgedSwapToken _token)
        RoundTripL2(_bridge, _l1ChainId, _l1Vault)
    {
        token = _token;
    }

    /// @notice Swaps `msg.value` ETH on L1 for at least `minOut` tokens, credited here to the caller.
    /// `returnMessage` is the L1 vault's answer (as `surge_simulateReturnMessage` predicts it).
    function swapETHForTokenViaL1(uint256 minOut, IBridge.Message calldata returnMessage)
        external
        payable
        returns (uint256 out)
    {
        return _swap(minOut, 0, returnMessage);
    }

    /// @notice `swapETHForTokenViaL1` offering `l1Fee` wei (out of `msg.value`) to the proposer, who pays
    /// the request's L1 gas: a node that wants its L1 cost covered names the fee in
    /// `surge_simulateReturnMessage`'s `minFee`. The rest of `msg.value` is swapped.
    function swapETHForTokenViaL1WithFee(uint256 minOut, uint64 l1Fee, IBridge.Message calldata returnMessage)
        external
        payable
        returns (uint256 out)
    {
        return _swap(minOut, l1Fee, returnMessage);
    }

    function _swap(uint256 minOut, uint64 l1Fee, IBridge.Message calldata returnMessage) private returns (uint256 out) {
        if (msg.value <= l1Fee) revert SV_NO_VALUE();
        uint256 amount = msg.value - l1Fee;
        uint256 before = token.balanceOf(msg.sender);
        bytes32 requestHash = _roundTrip(msg.sender, amount, l1Fee, abi.encode(msg.sender, minOut), returnMessage);
        out = token.balanceOf(msg.sender) - before;
        if (out < minOut) revert SV_SLIPPAGE(out, minOut);
        emit SwapCompleted(requestHash, msg.sender, amount, out);
    }

    function _onAnswer(bytes32, bytes memory result) internal override {
        (address user, uint256 out) = abi.decode(result, (address, uint256));
        token.mint(user, out);
    }
}
