// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBridge} from "../src/shared/IBridge.sol";
import {RoundTripL1, RoundTripL2} from "./RoundTrip.sol";

/// @notice The flash-loan fee both halves compute: 1% of the amount, rounded up.
library FlashLoanFee {
    /// @notice The fee in basis points.
    uint256 internal constant FEE_BPS = 100;

    function compute(uint256 amount) internal pure returns (uint256) {
        return (amount * FEE_BPS + 9_999) / 10_000;
    }
}

/// @notice What a flash borrower implements.
interface IFlashBorrower {
    /// @notice Receives `amount` wei; must pay back `amount + fee` through `LendingPool.repay` before returning.
    function onFlashLoan(uint256 amount, uint256 fee, bytes calldata data) external payable;
}

/// @title LendingPool
/// @notice An L1 pool of ETH that lends it within one call for a 1% fee.
contract LendingPool {
    /// @notice Who may withdraw the liquidity.
    address public immutable owner;
    /// @notice The fees earned so far.
    uint256 public totalFees;
    uint256 private _locked;

    event Deposited(address indexed from, uint256 amount);
    event Withdrawn(address indexed to, uint256 amount);
    event FlashLoan(address indexed borrower, uint256 amount, uint256 fee);

    error LP_NOT_OWNER(address caller);
    error LP_REENTRANCY();
    error LP_INSUFFICIENT_LIQUIDITY(uint256 available, uint256 requested);
    error LP_NOT_REPAID(uint256 owed, uint256 repaid);
    error LP_TRANSFER_FAILED();

    constructor(address _owner) {
        owner = _owner;
    }

    /// @notice Adds liquidity.
    function deposit() external payable {
        emit Deposited(msg.sender, msg.value);
    }

    /// @notice Sends `amount` of the liquidity to `to`; owner only, never during a loan.
    function withdraw(uint256 amount, address to) external {
        if (msg.sender != owner) revert LP_NOT_OWNER(msg.sender);
        if (_locked == 1) revert LP_REENTRANCY();
        (bool sent,) = to.call{value: amount}("");
        if (!sent) revert LP_TRANSFER_FAILED();
        emit Withdrawn(to, amount);
    }

    /// @notice Repays a loan in progress (any ETH sent here counts).
    function repay() external payable {}

    /// @notice The fee on a loan of `amount`.
    function flashFee(uint256 amount) public pure returns (uint256) {
        return FlashLoanFee.compute(amount);
    }

    /// @notice Lends `amount` to the caller's `onFlashLoan`, which must repay it plus the fee.
    function flashLoan(uint256 amount, bytes calldata data) external {
        if (_locked == 1) revert LP_REENTRANCY();
        _locked = 1;
        uint256 before = address(this).balance;
        if (amount > before) revert LP_INSUFFICIENT_LIQUIDITY(before, amount);
        uint256 fee = flashFee(amount);
        IFlashBorrower(msg.sender).onFlashLoan{value: amount}(amount, fee, data);
        uint256 afterLoan = address(this).balance;
        if (afterLoan < before + fee) revert LP_NOT_REPAID(amount + fee, afterLoan + amount - before);
        totalFees += fee;
        _locked = 0;
        emit FlashLoan(msg.sender, amount, fee);
    }
}

/// @title FlashLoanExecutorL1
/// @notice Runs an L2 user's flash loan on L1: borrows from the lending pool, uses the funds, repays them
/// with the fee the request carried, and answers with what happened.
contract FlashLoanExecutorL1 is RoundTripL1, IFlashBorrower {
    /// @notice The pool loans come from.
    LendingPool public immutable pool;
    // The user whose loan is in progress (zero outside a loan), so only our own loans are accepted.
    address private _borrower;

    event FundsUsed(bytes32 indexed requestHash, address indexed user, uint256 amount, uint256 held);

    error FL_FEE_MISMATCH(uint256 sent, uint256 fee);
    error FL_UNEXPECTED_LOAN(address caller);

    constructor(IBridge _bridge, uint64 _l2ChainId, address _l2Executor, LendingPool _pool)
        RoundTripL1(_bridge, _l2ChainId, _l2Executor)
    {
        pool = _pool;
    }

    /// @dev Request `abi.encode(user, amount)` carrying exactly the fee; result `abi.encode(user, amount, fee)`.
    function _handle(bytes32 requestHash, bytes calldata payload, uint256 value)
        internal
        override
        returns (bytes memory)
    {
        (address user, uint256 amount) = abi.decode(payload, (address, uint256));
        uint256 fee = pool.flashFee(amount);
        if (value != fee) revert FL_FEE_MISMATCH(value, fee);
        _borrower = user;
        pool.flashLoan(amount, abi.encode(requestHash, user));
        _borrower = address(0);
        return abi.encode(user, amount, fee);
    }

    /// @notice The pool's callback: uses the loan, then repays it with the fee.
    function onFlashLoan(uint256 amount, uint256 fee, bytes calldata data) external payable {
        if (msg.sender != address(pool) || _borrower == address(0)) revert FL_UNEXPECTED_LOAN(msg.sender);
        (bytes32 requestHash, address user) = abi.decode(data, (bytes32, address));
        // The strategy goes here (an arbitrage, a liquidation, a collateral swap); the example shows that
        // the borrowed funds and the fee are in hand.
        emit FundsUsed(requestHash, user, amount, address(this).balance);
        pool.repay{value: amount + fee}();
    }
}

/// @title FlashLoanExecutorL2
/// @notice Takes an L1 flash loan from one L2 transaction: the caller pays the 1% fee here, the L1
/// executor borrows, uses and repays, and its answer is recorded here — or the transaction reverts.
contract FlashLoanExecutorL2 is RoundTripL2 {
    /// @notice A completed loan.
    struct Loan {
        address user;
        uint256 amount;
        uint256 fee;
    }

    /// @notice Completed loans by request hash.
    mapping(bytes32 requestHash => Loan) public loans;

    event FlashLoanCompleted(bytes32 indexed requestHash, address indexed user, uint256 amount, uint256 fee);

    error FL_FEE_MISMATCH(uint256 sent, uint256 fee);

    constructor(IBridge _bridge, uint64 _l1ChainId, address _l1Executor)
        RoundTripL2(_bridge, _l1ChainId, _l1Executor)
    {}

    /// @notice The fee (ETH to send with `flashLoanViaL1`) for a loan of `amount`.
    function flashFee(uint256 amount) external pure returns (uint256) {
        return FlashLoanFee.compute(amount);
    }

    /// @notice Borrows `amount` on L1 for the length of the L1 callback; `msg.value` must be the fee.
    /// `returnMessage` is the L1 executor's answer.
    function flashLoanViaL1(uint256 amount, IBridge.Message calldata returnMessage)
        external
        payable
        returns (bytes32 requestHash)
    {
        return _loan(amount, 0, returnMessage);
    }

    /// @notice `flashLoanViaL1` offering `l1Fee` wei to the proposer, who pays the request's L1 gas:
    /// `msg.value` is the loan's fee plus `l1Fee`.
    function flashLoanViaL1WithFee(uint256 amount, uint64 l1Fee, IBridge.Message calldata returnMessage)
        external
        payable
        returns (bytes32 requestHash)
    {
        return _loan(amount, l1Fee, returnMessage);
    }

    function _loan(uint256 amount, uint64 l1Fee, IBridge.Message calldata returnMessage)
        private
        returns (bytes32 requestHash)
    {
        uint256 fee = FlashLoanFee.compute(amount);
        if (msg.value != fee + l1Fee) revert FL_FEE_MISMATCH(msg.value, fee + l1Fee);
        requestHash = _roundTrip(msg.sender, fee, l1Fee, abi.encode(msg.sender, amount), returnMessage);
    }

    function _onAnswer(bytes32 requestHash, bytes memory result) internal override {
        (address user, uint256 amount, uint256 fee) = abi.decode(result, (address, uint256, uint256));
        loans[requestHash] = Loan(user, amount, fee);
        emit FlashLoanCompleted(requestHash, user, amount, fee);
    }
}
