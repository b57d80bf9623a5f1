//! A simulation's tracer stops the call it traces when the simulation is cancelled (an endless loop ends
//! within a check interval, not at the end of its gas) or when its trace grows past its bound (a loop that
//! passes the same calldata to call after call); a block's tracer changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_evm::{EthEvmFactory, Evm, EvmEnv, EvmFactory};
use alloy_primitives::{Address, Bytes, TxKind, U256, address};
use revm::{
    context::{BlockEnv, CfgEnv, TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::{AccountInfo, Bytecode},
};
use surge_sync::{CallTracer, Stopped, abort};

const LOOPER: Address = address!("0x00000000000000000000000000000000000c0de1");
const CALLER: Address = address!("0x00000000000000000000000000000000000ca11e");
const GAS: u64 = 30_000_000;

/// `JUMPDEST PUSH1 0 JUMP`: spins until out of gas.
const SPIN: [u8; 4] = [0x5b, 0x60, 0x00, 0x56];

/// Calls address 4 (the identity precompile) with the 4 KiB at memory 0, forever: `JUMPDEST`, then
/// `CALL(gas, 4, 0, 0, 4096, 0, 0)` and `POP`, then back.
fn call_loop() -> Vec<u8> {
    let mut code = vec![0x5b];
    code.extend([0x60, 0x00, 0x60, 0x00]); // retSize 0, retOffset 0
    code.extend([0x61, 0x10, 0x00]); // argsSize 4096
    code.extend([0x60, 0x00, 0x60, 0x00]); // argsOffset 0, value 0
    code.extend([0x60, 0x04, 0x5a, 0xf1, 0x50]); // address 4, GAS, CALL, POP
    code.extend([0x60, 0x00, 0x56]); // back to 0
    code
}

/// Counts the opcodes run.
#[derive(Debug, Default)]
struct Steps(u64);

impl<CTX> revm::Inspector<CTX> for Steps {
    fn step(&mut self, _interp: &mut revm::interpreter::Interpreter, _context: &mut CTX) {
        self.0 += 1;
    }
}

/// Runs `code` under `tracer`, `abort_first` raising the abort before it starts; the result, the tracer and
/// the opcodes run.
fn run(code: &[u8], tracer: CallTracer, abort_first: bool) -> (ExecutionResult, CallTracer, u64) {
    let mut db = CacheDB::new(EmptyDB::default());
    db.insert_account_info(LOOPER, AccountInfo::default().with_code(Bytecode::new_raw(Bytes::copy_from_slice(code))));
    db.insert_account_info(CALLER, AccountInfo::from_balance(U256::from(10).pow(U256::from(18))));
    let block = BlockEnv { gas_limit: GAS, ..Default::default() };
    let env = EvmEnv::new(CfgEnv::new_with_spec(SpecId::PRAGUE), block);
    let tx = TxEnv { caller: CALLER, kind: TxKind::Call(LOOPER), gas_limit: GAS, ..Default::default() };
    let stop = abort::Abort::default();
    if abort_first {
        stop.raise();
    }
    let mut inspectors = (tracer, Steps::default());
    let result = abort::scoped(&stop, || {
        let mut evm = EthEvmFactory::default().create_evm_with_inspector(&mut db, env, &mut inspectors);
        evm.transact(tx).unwrap().result
    });
    let (tracer, steps) = inspectors;
    (result, tracer, steps.0)
}

#[test]
fn a_cancelled_simulation_stops_within_a_check_interval() {
    let (result, tracer, steps) = run(&SPIN, CallTracer::bounded(usize::MAX), true);
    assert_eq!(tracer.stopped(), Some(Stopped::Aborted));
    assert!(!result.is_success());
    assert_eq!(steps, u64::from(surge_sync::ABORT_CHECK_STEPS), "stopped at the first check");
    assert_eq!(result.tx_gas_used(), GAS, "all gas is spent, so that every frame ends");
    // Not raised, it spins to the end of its gas (millions of opcodes) and is not "stopped".
    let (_, tracer, steps) = run(&SPIN, CallTracer::bounded(usize::MAX), false);
    assert_eq!(tracer.stopped(), None);
    assert!(steps > 1_000_000, "{steps}");
}

#[test]
fn a_trace_past_its_bound_stops_and_a_blocks_tracer_never_does() {
    let bound = 1 << 20;
    let (result, tracer, _) = run(&call_loop(), CallTracer::bounded(bound), false);
    assert_eq!(tracer.stopped(), Some(Stopped::TraceTooLarge(bound)));
    assert!(!result.is_success());
    let frames = tracer.into_traces().nodes().len();
    assert!(frames < 2 * bound / 4096, "the trace stopped near its bound: {frames} frames");
    // The same call under a block's tracer runs until its gas is gone, with every frame recorded.
    let (_, tracer, _) = run(&call_loop(), CallTracer::default(), false);
    assert_eq!(tracer.stopped(), None);
    assert!(tracer.into_traces().nodes().len() > frames);
}
