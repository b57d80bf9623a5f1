//! Stopping a simulation from outside: a request that timed out or was cancelled sets its [`Abort`], and
//! the work running for it on a thread stops at its next check — every few thousand opcodes in a traced
//! call ([`crate::CallTracer`]) and at every state read of an L1 view. The abort is scoped to the thread
//! that runs the simulation ([`scoped`]), so the EVMs, tracers and databases deep inside need no extra
//! parameter, and work on other threads (the watcher's planning) never sees it.

use std::{
    cell::RefCell,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// A flag a simulation's owner raises to stop it.
#[derive(Debug, Clone, Default)]
pub struct Abort(Arc<AtomicBool>);

impl Abort {
    /// Stops the work scoped to this abort (now, or at its start if it has not started).
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether it was raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Abort>> = const { RefCell::new(None) };
}

/// Runs `work` on this thread with `abort` as the abort its simulations check.
pub fn scoped<T>(abort: &Abort, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Abort>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(abort.clone())));
    work()
}

/// Whether the simulation running on this thread was told to stop (never, outside [`scoped`]).
pub fn requested() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(Abort::is_raised))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_is_seen_only_inside_its_scope_and_only_once_raised() {
        let abort = Abort::default();
        assert!(!requested());
        scoped(&abort, || {
            assert!(!requested());
            abort.raise();
            assert!(requested());
            // Another thread runs its own work.
            assert!(!std::thread::spawn(requested).join().unwrap());
        });
        assert!(!requested(), "the scope ends with the work");
    }
}
