//! One driver for the passes of both executors: it runs a pass in chunks of steps, reports
//! progress after each chunk and stops early when the progress callback asks. Each executor
//! says what a chunk is (one step on the CPU; up to one submission on the GPU) and checks its
//! own metrics for divergence, since only it knows when they are read.

use std::ops::ControlFlow;

use super::backend::{Metrics, Progress};
use crate::error::Result;

/// What a chunk did: the steps of the pass done after it, and the running sums when known.
pub struct Chunk {
    pub done: usize,
    pub running: Option<Metrics>,
}

/// Runs `chunk` from step 0 until `steps` are done or `progress` breaks; returns the steps done.
pub fn drive(
    steps: usize,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    mut chunk: impl FnMut(usize) -> Result<Chunk>,
) -> Result<usize> {
    let mut done = 0;
    while done < steps {
        let c = chunk(done)?;
        done = c.done;
        let flow = progress(Progress {
            step: done,
            steps,
            loss: c.running.map(|m| m.mean_loss()),
            accuracy: c.running.map(|m| m.accuracy()),
        });
        if flow.is_break() {
            break;
        }
    }
    Ok(done)
}
