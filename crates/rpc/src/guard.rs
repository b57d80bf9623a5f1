//! An inspector that stops an RPC execution at its deadline, or when a trace would record more than its
//! byte budget: every frame then halts at its next step, so the whole call unwinds within microseconds.
//!
//! The struct logger (the default tracer) copies the stack, and on request memory and return data, at
//! every step: a loop over a deep stack fills memory at gigabytes per second, so its cost is counted as
//! it grows and the trace is refused before it is built.

use std::collections::HashSet;

use alloy::rpc::types::trace::geth::{GethDebugTracingOptions, GethDefaultTracingOptions};
use alloy_primitives::{Address, U256};
use revm::{
    bytecode::opcode::{SLOAD, SSTORE},
    inspector::Inspector,
    interpreter::{
        InstructionResult, Interpreter,
        interpreter::EthInterpreter,
        interpreter_types::{InputsTr, Jumps, MemoryTr, ReturnData},
    },
};

use crate::{error::RpcError, exec::Deadline};

/// Steps between two looks at the clock (reading it costs about as much as a cheap opcode).
const CLOCK_EVERY: u32 = 1024;

/// What one recorded step of the struct logger costs besides the stack, memory and return data it
/// copies: its fixed fields, as measured on revm-inspectors' step record.
const STEP_OVERHEAD: u64 = 200;

/// Why an execution was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It ran past its deadline.
    Deadline,
    /// Its trace outgrew the budget.
    Budget(u64),
}

/// What the struct logger records per step, for counting its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBudget {
    max_bytes: u64,
    used: u64,
    stack: bool,
    memory: bool,
    return_data: bool,
    storage: bool,
    /// Slots read or written so far: at each SLOAD and SSTORE the struct logger copies the storage it has
    /// seen, so those steps cost more as the slots grow.
    slots: HashSet<(Address, U256)>,
}

impl TraceBudget {
    /// The budget of a trace with `opts` under `max_bytes`: only the struct logger records per step; the
    /// other tracers record per call and are bounded by the deadline.
    pub fn for_options(opts: &GethDebugTracingOptions, max_bytes: u64) -> Option<Self> {
        if opts.tracer.is_some() {
            return None;
        }
        let config: &GethDefaultTracingOptions = &opts.config;
        Some(Self {
            max_bytes,
            used: 0,
            stack: config.is_stack_enabled(),
            memory: config.is_memory_enabled(),
            return_data: config.is_return_data_enabled(),
            storage: config.is_storage_enabled(),
            slots: HashSet::new(),
        })
    }

    fn charge(&mut self, interp: &Interpreter<EthInterpreter>) -> bool {
        let mut cost = STEP_OVERHEAD;
        if self.stack {
            cost += 32 * interp.stack.len() as u64;
        }
        if self.memory {
            cost += interp.memory.size() as u64;
        }
        if self.return_data {
            cost += interp.return_data.buffer().len() as u64;
        }
        if self.storage && matches!(interp.bytecode.opcode(), SLOAD | SSTORE) {
            if let Some(slot) = interp.stack.data().last() {
                self.slots.insert((interp.input.target_address(), *slot));
            }
            cost += 64 * self.slots.len() as u64;
        }
        self.used = self.used.saturating_add(cost);
        self.used > self.max_bytes
    }
}

/// The inspector.
#[derive(Debug, Clone)]
pub struct ExecGuard {
    deadline: Deadline,
    budget: Option<TraceBudget>,
    until_clock: u32,
    stopped: Option<Stopped>,
}

impl ExecGuard {
    /// Stops at `deadline`, and past `budget` when tracing with the struct logger.
    pub fn new(deadline: Deadline, budget: Option<TraceBudget>) -> Self {
        Self { deadline, budget, until_clock: CLOCK_EVERY, stopped: None }
    }

    /// Why it stopped the execution, if it did.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped
    }

    /// The error of a stopped execution (`Ok` when it ran to its end).
    pub fn check(&self) -> Result<(), RpcError> {
        match self.stopped {
            None => Ok(()),
            Some(Stopped::Deadline) => Err(self.deadline.error()),
            Some(Stopped::Budget(max)) => Err(budget_error(max)),
        }
    }
}

/// The error of a trace that outgrew `max` bytes.
pub fn budget_error(max: u64) -> RpcError {
    RpcError::Limit(format!(
        "trace larger than {max} bytes (--rpc.max-trace-bytes): trace less (disableStack, disableStorage, no \
         enableMemory), or use callTracer"
    ))
}

impl<CTX> Inspector<CTX, EthInterpreter> for ExecGuard {
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, _context: &mut CTX) {
        if self.stopped.is_none() {
            if let Some(budget) = &mut self.budget
                && budget.charge(interp)
            {
                self.stopped = Some(Stopped::Budget(budget.max_bytes));
            }
            self.until_clock -= 1;
            if self.until_clock == 0 {
                self.until_clock = CLOCK_EVERY;
                if self.deadline.passed() {
                    self.stopped = Some(Stopped::Deadline);
                }
            }
        }
        if self.stopped.is_some() {
            // Every frame halts at its next step: the caller of a halted frame is halted in turn.
            interp.halt(InstructionResult::OutOfGas);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy_evm::{Evm, EvmEnv, EvmFactory};
    use alloy_primitives::{Address, Bytes, TxKind};
    use revm::{
        context::TxEnv,
        database::{CacheDB, EmptyDB},
    };

    use super::*;

    /// Initcode that pushes `words` words, then loops until its gas runs out.
    fn deep_loop(words: usize) -> Bytes {
        let mut code = vec![];
        for _ in 0..words {
            code.extend([0x60, 0x01]);
        }
        let dest = code.len() as u16;
        code.push(0x5b);
        code.push(0x61);
        code.extend(dest.to_be_bytes());
        code.push(0x56);
        code.into()
    }

    fn run(guard: &mut ExecGuard, code: Bytes, gas: u64) -> bool {
        let factory = alloy_evm::EthEvmFactory::default();
        let mut env: EvmEnv = EvmEnv::default();
        env.cfg_env.disable_nonce_check = true;
        env.cfg_env.disable_base_fee = true;
        env.block_env.gas_limit = gas;
        let tx = TxEnv::builder().caller(Address::repeat_byte(1)).kind(TxKind::Create).data(code).gas_limit(gas);
        let mut evm = factory.create_evm_with_inspector(CacheDB::new(EmptyDB::default()), env, guard);
        let result = evm.transact(tx.build().unwrap()).unwrap();
        result.result.is_success()
    }

    #[test]
    fn a_passed_deadline_stops_a_loop_and_a_deep_stack_trace_stops_at_its_budget() {
        let mut late = ExecGuard::new(Deadline::after(Duration::ZERO), None);
        assert!(!run(&mut late, deep_loop(10), 10_000_000));
        assert_eq!(late.stopped(), Some(Stopped::Deadline));
        assert!(late.check().unwrap_err().to_string().starts_with("execution aborted (timeout = 0s)"));

        let opts = GethDebugTracingOptions::default();
        let budget = TraceBudget::for_options(&opts, 1 << 20);
        let mut tracing = ExecGuard::new(Deadline::after(Duration::from_secs(60)), budget.clone());
        assert!(!run(&mut tracing, deep_loop(1000), 10_000_000));
        assert_eq!(tracing.stopped(), Some(Stopped::Budget(1 << 20)));
        // A megabyte is spent about 250 words into the pushes: the loop never starts.
        assert!(tracing.check().unwrap_err().to_string().contains("--rpc.max-trace-bytes"));

        // Nothing to stop: a short constructor runs to its end, and the call tracer has no byte budget.
        let mut fine = ExecGuard::new(Deadline::after(Duration::from_secs(60)), budget.clone());
        assert!(run(&mut fine, Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xf3]), 100_000));
        assert!(fine.check().is_ok());
        let call_tracer = GethDebugTracingOptions::call_tracer(Default::default());
        assert_eq!(TraceBudget::for_options(&call_tracer, 1), None);
    }
}
