//! The dev L2 through an alloy provider, as a Rust dapp would use it: wallet-signed transfers and a
//! deployment with receipts, calls, logs, blocks, and a block subscription over WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::{
    eips::BlockNumberOrTag,
    network::{EthereumWallet, TransactionBuilder},
    providers::{Provider, ProviderBuilder, WsConnect},
    rpc::types::{Filter, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use common::{DevNode, KEY1, storage_logs_bytecode};
use surge_primitives::{GOLDEN_TOUCH_ADDRESS, bindings::test_storage_logs::StorageLogs};

#[test]
fn an_alloy_provider_drives_the_l2() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let signer: PrivateKeySigner = KEY1.parse().unwrap();
        let me = signer.address();
        let provider =
            ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(node.l2.parse().unwrap());
        assert_eq!(provider.get_chain_id().await.unwrap(), surge_genesis::DEV_L2_CHAIN_ID);

        // A transfer, filled (nonce, gas, fees) and signed by alloy.
        let dead = Address::repeat_byte(0xde);
        let tx = TransactionRequest::default().with_to(dead).with_value(U256::from(777));
        let receipt = provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status());
        assert_eq!(receipt.from, me);
        assert_eq!(provider.get_balance(dead).await.unwrap(), U256::from(777));
        let block = provider
            .get_block_by_number(BlockNumberOrTag::Number(receipt.block_number.unwrap()))
            .full()
            .await
            .unwrap()
            .unwrap();
        let txs: Vec<_> = block.transactions.txns().collect();
        assert_eq!(txs[0].inner.signer(), GOLDEN_TOUCH_ADDRESS, "the anchor opens the block");
        assert_eq!(*txs[1].inner.tx_hash(), receipt.transaction_hash);

        // Deploy, write, read, and find the log.
        let code: Bytes = storage_logs_bytecode().parse().unwrap();
        let deploy = TransactionRequest::default().with_deploy_code(code);
        let deployed = provider.send_transaction(deploy).await.unwrap().get_receipt().await.unwrap();
        let app = deployed.contract_address.unwrap();
        let store = StorageLogs::storeCall { key: U256::from(3), value: U256::from(4) }.abi_encode();
        let stored = provider
            .send_transaction(TransactionRequest::default().with_to(app).with_input(store))
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(stored.status());
        let read = StorageLogs::valuesCall(U256::from(3)).abi_encode();
        let out = provider.call(TransactionRequest::default().with_to(app).with_input(read)).await.unwrap();
        assert_eq!(U256::from_be_slice(&out), U256::from(4));
        let logs = provider.get_logs(&Filter::new().address(app).from_block(0)).await.unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].transaction_hash, Some(stored.transaction_hash));

        // New blocks over WebSocket.
        let ws = ProviderBuilder::new().connect_ws(WsConnect::new(node.l2_ws.clone())).await.unwrap();
        let mut blocks = ws.subscribe_blocks().await.unwrap();
        let header = tokio::time::timeout(std::time::Duration::from_secs(10), blocks.recv()).await.unwrap().unwrap();
        assert!(header.number > stored.block_number.unwrap() - 1);
    });
    node.stop();
}
