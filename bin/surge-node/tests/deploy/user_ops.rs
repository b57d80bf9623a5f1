//! User ops on anvil: `deploy` deploys the wallet factory; a new owner's deposit and the same wallet's next
//! op, sent together, are credited on L2 by the node's relayer in the first block of their proposal; a
//! replayed batch and an unpaid one are refused with the reason.

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, U256};
use serde_json::json;
use surge_test_utils::{
    cast, rpc_result,
    user_ops::{RELAY_FEE, batch, deposit, fund, now, pay, send_user_op, sent_id, settled, wallet_of},
};

use super::{deploy_to, hex_key, spawn_l2, wait_healthy};

const ANVIL_CHAIN_ID: u64 = 31_337;
const ETHER: u64 = 1_000_000_000_000_000_000;

#[test]
fn on_anvil_a_new_owner_s_deposits_are_credited_by_the_relay_and_a_replay_is_refused() {
    let (_anvil, l1) = super::anvil(&["--chain-id", "31337", "--block-time", "1", "--slots-in-an-epoch", "1"]);
    let (dir, addresses) = deploy_to(&l1, "5");
    let factory = addresses["protocol"]["l1"]["user_ops_factory"].as_str().unwrap();
    assert_ne!(factory.parse::<Address>().unwrap(), Address::ZERO, "deploy deployed the factory");
    let (_node, l2) = spawn_l2(&dir.path().join("deployed"), dir.path(), &[], &[], "node.log");
    wait_healthy(&l2, &dir.path().join("node.log"));
    let ops = Ops::new(&l1, &l2, &addresses);

    // An op that does not pay the proposer: refused, nothing queued.
    let unpaid = deposit(ops.bridge, ops.wallet, Address::repeat_byte(0x51), U256::from(ETHER), RELAY_FEE, 1_000_000);
    let unpaid = batch(&ops.owner, ops.wallet, ANVIL_CHAIN_ID, &[unpaid], 0, now() + 600);
    let refused = sent_id(&send_user_op(&l2, ops.wallet, &unpaid)).unwrap_err();
    assert!(refused.contains("it pays the proposer"), "{refused}");
    // The deposit and the same wallet's next op, together: ids 1 and 2.
    let (first, second) = (ops.deposit(), ops.deposit());
    assert_eq!((first.0, second.0), (1, 2));
    ops.executed(first);
    ops.executed(second);
    let nonce = cast(&["call", &ops.wallet.to_string(), "nonce()(uint256)", "--rpc-url", &l1]);
    assert_eq!(nonce.trim(), "2", "each batch ran once on anvil");
    // The first batch again: the wallet's nonce moved on.
    let replayed = sent_id(&send_user_op(&l2, ops.wallet, &ops.signed(0))).unwrap_err();
    assert!(replayed.contains("WrongNonce"), "{replayed}");
}

/// Deposits by user op on an L2 on anvil, from one new owner's wallet.
pub(super) struct Ops {
    l1: String,
    l2: String,
    bridge: Address,
    owner: PrivateKeySigner,
    wallet: Address,
    nonce: std::cell::Cell<u64>,
    deadline: u64,
}

impl Ops {
    /// A new owner's funded wallet on the protocol of `addresses` (what `deploy` wrote).
    pub(super) fn new(l1: &str, l2: &str, addresses: &serde_json::Value) -> Self {
        let address =
            |field: &str| -> Address { addresses["protocol"]["l1"][field].as_str().unwrap().parse().unwrap() };
        let owner = PrivateKeySigner::random();
        let wallet = wallet_of(l1, address("user_ops_factory"), owner.address());
        fund(l1, l2, &hex_key(7), wallet, "5ether");
        let deadline = now() + 3600;
        Self {
            l1: l1.into(),
            l2: l2.into(),
            bridge: address("bridge"),
            owner,
            wallet,
            nonce: Default::default(),
            deadline,
        }
    }

    /// The batch of a deposit of 1 ether to an account made from `nonce`, signed for wallet nonce
    /// `nonce`, paying the relay and the proposer.
    fn signed(&self, nonce: u64) -> alloy_primitives::Bytes {
        let proposer = surge_test_utils::dev_key(0).address();
        let ops = [
            deposit(self.bridge, self.wallet, Self::account(nonce), U256::from(ETHER), RELAY_FEE, 1_000_000),
            pay(proposer, U256::from(ETHER / 100)),
        ];
        batch(&self.owner, self.wallet, ANVIL_CHAIN_ID, &ops, nonce, self.deadline)
    }

    /// The L2 account the deposit at wallet nonce `nonce` goes to.
    fn account(nonce: u64) -> Address {
        Address::left_padding_from(&(0x5100 + nonce).to_be_bytes())
    }

    /// Sends the next deposit of 1 ether: its id and the L2 account it goes to.
    pub(super) fn deposit(&self) -> (u64, Address) {
        let nonce = self.nonce.replace(self.nonce.get() + 1);
        (sent_id(&send_user_op(&self.l2, self.wallet, &self.signed(nonce))).unwrap(), Self::account(nonce))
    }

    /// Waits for op `id` to be `Executed` with its account credited on L2; its L2 block.
    pub(super) fn executed(&self, (id, to): (u64, Address)) -> u64 {
        let status = settled(&self.l2, id);
        assert_eq!(status["status"], "Executed", "op {id}: {status}");
        assert_eq!(cast(&["balance", &to.to_string(), "--rpc-url", &self.l2]).trim(), ETHER.to_string(), "op {id}");
        let l1_receipt = rpc_result(&self.l1, "eth_getTransactionReceipt", json!([status["l1_tx_hash"]]));
        assert_eq!(l1_receipt["status"], "0x1", "its proposal landed on anvil");
        status["l2_block_number"].as_u64().unwrap()
    }
}
