//! Failpoints: named places where a test makes the node fail on purpose, to show what a crash there
//! leaves behind. `SURGE_FAILPOINT=<name>:<panic|sigkill|park>` arms one (read once, at its first check); no
//! variable, no cost beyond one comparison.

use std::sync::OnceLock;

/// What an armed failpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Panics the thread (a task's panic: the node's supervisor sees it).
    Panic,
    /// Kills the process at once, as a power cut or the OOM killer would (nothing is flushed).
    SigKill,
    /// Blocks the thread for good, as a worker stuck on a slow L1 would (what others do meanwhile).
    Park,
}

/// The armed failpoint, from `SURGE_FAILPOINT`; a malformed value arms nothing (and says so).
fn armed() -> Option<&'static (String, FailAction)> {
    static ARMED: OnceLock<Option<(String, FailAction)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var("SURGE_FAILPOINT").ok()?;
            let parsed = parse(&value);
            if parsed.is_none() {
                eprintln!("SURGE_FAILPOINT={value:?}: expected <name>:<panic|sigkill|park>; no failpoint armed");
            }
            parsed
        })
        .as_ref()
}

/// `name:panic`, `name:sigkill` or `name:park`.
pub fn parse(value: &str) -> Option<(String, FailAction)> {
    let (name, action) = value.trim().rsplit_once(':')?;
    let action = match action {
        "panic" => FailAction::Panic,
        "sigkill" => FailAction::SigKill,
        "park" => FailAction::Park,
        _ => return None,
    };
    (!name.is_empty()).then(|| (name.to_string(), action))
}

/// Fails here if `SURGE_FAILPOINT` names `name`.
pub fn failpoint(name: &str) {
    let Some((armed, action)) = armed() else { return };
    if armed != name {
        return;
    }
    match action {
        FailAction::Panic => panic!("failpoint {name} reached (SURGE_FAILPOINT)"),
        FailAction::SigKill => {
            eprintln!("failpoint {name} reached (SURGE_FAILPOINT): killing the process");
            // SAFETY: `getpid` and `kill` only read their arguments.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            // SIGKILL cannot be caught; this is never reached.
            std::process::abort();
        }
        FailAction::Park => {
            eprintln!("failpoint {name} reached (SURGE_FAILPOINT): parking the thread");
            loop {
                std::thread::park();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_name_a_place_and_an_action() {
        assert_eq!(parse("proposer:panic"), Some(("proposer".into(), FailAction::Panic)));
        assert_eq!(parse("ledger.commit:sigkill"), Some(("ledger.commit".into(), FailAction::SigKill)));
        assert_eq!(parse("rpc.simulation:park"), Some(("rpc.simulation".into(), FailAction::Park)));
        assert_eq!(parse("proposer"), None);
        assert_eq!(parse(":panic"), None);
        assert_eq!(parse("proposer:explode"), None);
    }
}
