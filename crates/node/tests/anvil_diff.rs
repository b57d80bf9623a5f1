//! Differential test against a real anvil (npm `@foundry-rs/anvil-linux-amd64`): the same genesis and
//! the same transactions give the same receipts roots, gas used, logs and account states, block by block.
//!
//! anvil's quirks are pinned: `--accounts 0 --disable-default-create2-deployer --no-mining --order fifo`,
//! an explicit `--hardfork`, blocks mined with `evm_mine` at strictly increasing timestamps, and anvil's
//! base fee, coinbase, mix hash and gas limit copied into our block environment. anvil reports the
//! empty-trie root for its genesis whatever the alloc, so the genesis is compared account by account and
//! against the root of anvil's own genesis proof.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::{eips::Encodable2718, genesis::GenesisAccount};
use alloy_primitives::{Address, B256, Bytes, U256, hex, keccak256};
use common::{TestChain, mapping_slot, workload};
use serde_json::{Value, json};
use surge_host::{ChainSpec, Store, execute::BlockInput};
use surge_test_utils::Anvil;

fn num(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn u256(v: &Value) -> U256 {
    U256::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn b256(v: &Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

fn run(hardfork: &str, with_prague: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut genesis = common::genesis();
    if !with_prague {
        genesis.config.prague_time = None;
    }
    let genesis_file = dir.path().join("genesis.json");
    std::fs::write(&genesis_file, serde_json::to_string(&genesis).unwrap()).unwrap();
    let anvil = Anvil::start(&genesis_file, hardfork, common::CHAIN_ID, &["--gas-limit", "30000000"]);

    // anvil adds system contracts of its own to the genesis (the EIP-2935 history contract on Prague);
    // give our genesis the same accounts so both start from the same state.
    let history = alloy::eips::eip2935::HISTORY_STORAGE_ADDRESS;
    let code: Bytes = anvil.rpc("eth_getCode", json!([history, "0x0"])).as_str().unwrap().parse().unwrap();
    if !code.is_empty() {
        let nonce = num(&anvil.rpc("eth_getTransactionCount", json!([history, "0x0"])));
        genesis.alloc.insert(history, GenesisAccount::default().with_code(Some(code)).with_nonce(Some(nonce)));
    }
    let spec = ChainSpec::from_genesis(genesis.clone()).unwrap();
    let store = Store::open(&dir.path().join("ours"), &spec).unwrap();
    let mut chain = TestChain { dir: None, spec, store, nonces: Default::default() };

    // Genesis: account by account, and our genesis root equals the root of anvil's genesis proof.
    for (address, account) in &genesis.alloc {
        assert_eq!(u256(&anvil.rpc("eth_getBalance", json!([address, "0x0"]))), account.balance, "{address}");
        let code: Bytes = anvil.rpc("eth_getCode", json!([address, "0x0"])).as_str().unwrap().parse().unwrap();
        assert_eq!(code, account.code.clone().unwrap_or_default(), "code of {address}");
        for (slot, value) in account.storage.clone().unwrap_or_default() {
            assert_eq!(b256(&anvil.rpc("eth_getStorageAt", json!([address, slot, "0x0"]))), value);
        }
    }
    let proof = anvil.rpc("eth_getProof", json!([Address::repeat_byte(0xcc), [], "0x0"]));
    let anvil_genesis_root = keccak256(hex::decode(proof["accountProof"][0].as_str().unwrap()).unwrap());
    assert_eq!(chain.store.head().unwrap().header.state_root, anvil_genesis_root, "genesis state root");

    let w = workload(&mut chain);
    let mut timestamp = genesis.timestamp;
    let mut ever_set: std::collections::BTreeMap<Address, std::collections::BTreeSet<B256>> = Default::default();
    let mut zeroed_anywhere = false;
    let mut roots_compared = 0;
    for (i, txs) in w.blocks.iter().enumerate() {
        let number = i as u64 + 1;
        for tx in txs {
            let raw = format!("0x{}", hex::encode(tx.inner().encoded_2718()));
            anvil.rpc("eth_sendRawTransaction", json!([raw]));
        }
        timestamp += 12;
        anvil.rpc("evm_mine", json!([timestamp]));
        let block = anvil.rpc("eth_getBlockByNumber", json!([format!("{number:#x}"), false]));
        assert_eq!(block["transactions"].as_array().unwrap().len(), txs.len(), "anvil included every tx");

        let parent = chain.store.head().unwrap();
        let input = BlockInput {
            timestamp: num(&block["timestamp"]),
            fee_recipient: block["miner"].as_str().unwrap().parse().unwrap(),
            prev_randao: b256(&block["mixHash"]),
            gas_limit: Some(num(&block["gasLimit"])),
            extra_data: Some(block["extraData"].as_str().unwrap().parse().unwrap()),
            base_fee: Some(num(&block["baseFeePerGas"])),
            parent_beacon_block_root: block.get("parentBeaconBlockRoot").map(b256),
            ..Default::default()
        };
        let executed = surge_host::execute::execute_block(
            &chain.spec,
            chain.store.latest_state().unwrap(),
            &parent,
            &input,
            txs.clone(),
        )
        .unwrap();
        let ours = chain.store.commit_block(executed).unwrap().header;

        for field in ["transactionsRoot", "receiptsRoot", "logsBloom", "withdrawalsRoot", "requestsHash"] {
            let theirs = block.get(field).filter(|v| !v.is_null()).map(|v| v.as_str().unwrap().to_lowercase());
            let mine = match field {
                "transactionsRoot" => Some(ours.transactions_root.to_string()),
                "receiptsRoot" => Some(ours.receipts_root.to_string()),
                "logsBloom" => Some(ours.logs_bloom.to_string()),
                "withdrawalsRoot" => ours.withdrawals_root.map(|r| r.to_string()),
                _ => ours.requests_hash.map(|r| r.to_string()),
            };
            assert_eq!(mine, theirs, "block {number}: {field}");
        }
        assert_eq!(ours.gas_used, num(&block["gasUsed"]), "block {number}: gasUsed");
        assert_eq!(ours.blob_gas_used, block.get("blobGasUsed").map(num), "block {number}: blobGasUsed");

        // Receipts, transaction by transaction.
        let receipts = chain.store.receipts(number).unwrap().unwrap();
        for (tx, mine) in txs.iter().zip(&receipts) {
            let theirs = anvil.rpc("eth_getTransactionReceipt", json!([tx.inner().trie_hash()]));
            assert_eq!(mine.status(), num(&theirs["status"]) == 1, "status of {}", tx.inner().trie_hash());
            assert_eq!(mine.cumulative_gas_used(), num(&theirs["cumulativeGasUsed"]));
            let logs = theirs["logs"].as_array().unwrap();
            assert_eq!(mine.logs().len(), logs.len());
            for (l, t) in mine.logs().iter().zip(logs) {
                assert_eq!(l.address, t["address"].as_str().unwrap().parse::<Address>().unwrap());
                let topics: Vec<B256> = t["topics"].as_array().unwrap().iter().map(b256).collect();
                assert_eq!(l.topics(), topics.as_slice());
                assert_eq!(l.data.data, t["data"].as_str().unwrap().parse::<Bytes>().unwrap());
            }
        }

        // Accounts, one by one, through eth_getProof (the history contract's storage holds block hashes,
        // which differ by construction, so only its storage hash is left out).
        // Every slot the workload and the genesis use, so each storage trie is known in full.
        let slots: Vec<B256> =
            (0..25u64).map(mapping_slot).chain([mapping_slot(99), B256::ZERO, B256::with_last_byte(1)]).collect();
        for address in w.touched.iter().chain([&history]) {
            let theirs = anvil.rpc("eth_getProof", json!([address, slots, format!("{number:#x}")]));
            let mine = chain.store.proof(number, *address, &slots).unwrap();
            let ctx = format!("block {number}, account {address}");
            assert_eq!(mine.balance, u256(&theirs["balance"]), "{ctx}: balance");
            assert_eq!(mine.nonce, num(&theirs["nonce"]), "{ctx}: nonce");
            let empty_code = alloy::consensus::constants::KECCAK_EMPTY;
            let their_code = b256(&theirs["codeHash"]);
            // An absent account: anvil reports a zero code hash, we report the empty-code hash.
            if !(mine.nonce == 0 && mine.balance.is_zero() && mine.code_hash == empty_code && their_code.is_zero()) {
                assert_eq!(mine.code_hash, their_code, "{ctx}: codeHash");
            }
            if *address != history {
                for (sp, t) in mine.storage_proof.iter().zip(theirs["storageProof"].as_array().unwrap()) {
                    assert_eq!(sp.value, u256(&t["value"]), "{ctx}: slot {}", sp.key);
                }
                let set = ever_set.entry(*address).or_default();
                set.extend(mine.storage_proof.iter().filter(|s| !s.value.is_zero()).map(|s| s.key));
                let zeroed: Vec<B256> = mine
                    .storage_proof
                    .iter()
                    .filter(|s| s.value.is_zero() && set.contains(&s.key))
                    .map(|s| s.key)
                    .collect();
                // anvil keeps a slot that was set back to zero in its storage trie, as a leaf holding RLP(0);
                // Ethereum deletes it. Where that happened, anvil's storage hash is the trie with those zero
                // leaves, and ours the trie without them.
                let theirs_hash = b256(&theirs["storageHash"]);
                let values = mine.storage_proof.iter().filter(|s| !s.value.is_zero()).map(|s| (s.key, s.value));
                assert_eq!(
                    alloy_trie::root::storage_root_unhashed(values.clone()),
                    mine.storage_hash,
                    "{ctx}: our storage hash"
                );
                if zeroed.is_empty() {
                    assert_eq!(mine.storage_hash, theirs_hash, "{ctx}: storageHash");
                } else {
                    zeroed_anywhere = true;
                    let with_zeros = values.chain(zeroed.iter().map(|k| (*k, U256::ZERO)));
                    assert_eq!(
                        alloy_trie::root::storage_root_unhashed(with_zeros),
                        theirs_hash,
                        "{ctx}: anvil's storageHash"
                    );
                }
            }
        }
        // Without the history contract no state depends on block hashes (which differ, since anvil's genesis
        // header differs), so the state roots themselves agree until anvil keeps its first zeroed slot.
        if !with_prague && !zeroed_anywhere {
            assert_eq!(ours.state_root, b256(&block["stateRoot"]), "block {number}: stateRoot");
            roots_compared += 1;
        }
    }
    if !with_prague {
        assert!(roots_compared >= 3, "state roots compared for {roots_compared} blocks only");
    }
}

#[test]
fn same_blocks_as_anvil_on_prague() {
    run("prague", true);
}

#[test]
fn same_blocks_and_state_roots_as_anvil_on_cancun() {
    run("cancun", false);
}
