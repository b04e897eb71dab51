//! Ctrl-C and SIGTERM while training. The first asks the training loop to stop at the end of the
//! current group of steps and write a checkpoint; a second one exits at once, with the same
//! status, leaving the last complete checkpoint as it was (checkpoints are replaced atomically).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::{flag, SigId};

use crate::error::{Error, Result};

pub struct StopSignals {
    /// The signal received first, 0 before any.
    which: Arc<AtomicUsize>,
    ids: Vec<SigId>,
}

impl StopSignals {
    pub fn install() -> Result<Self> {
        let pending = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicUsize::new(0));
        let mut ids = Vec::new();
        let fail = |e: std::io::Error| Error::msg(format!("cannot handle Ctrl-C: {e}"));
        for sig in [SIGINT, SIGTERM] {
            // Handlers run in registration order: the exit sees the flag a first signal set.
            ids.push(
                flag::register_conditional_shutdown(sig, 128 + sig, pending.clone())
                    .map_err(fail)?,
            );
            ids.push(flag::register(sig, pending.clone()).map_err(fail)?);
            ids.push(flag::register_usize(sig, which.clone(), sig as usize).map_err(fail)?);
        }
        Ok(Self { which, ids })
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<i32> {
        match self.which.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }
}

/// The exit status of a process that stopped for `signal`: 130 for SIGINT, 143 for SIGTERM.
pub fn exit_status(signal: i32) -> u8 {
    (128 + signal) as u8
}

pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT (Ctrl-C)",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
