//! The loaded model, shared by every request.
//!
//! A backend is one mutable object (`&mut dyn Backend`: the CPU graph's scratch buffers, or the
//! GPU graph's wgpu buffers bound to one device) and is neither `Send` nor `Sync` in general. So
//! one thread owns it: the HTTP workers decode and preprocess their requests in parallel, then
//! queue the 28x28 inputs here as [`Job`]s. This thread takes whatever is queued (up to the
//! compiled batch size) and runs it as one forward pass, so concurrent requests share passes
//! instead of waiting for one another.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use crate::data::Dataset;
use crate::error::Result;
use crate::graph::Backend;
use crate::train::evaluate;

/// One preprocessed image waiting for the model, and where its answer goes.
pub struct Job {
    /// The model's input: `height * width` grey bytes (white ink on black) or RGB triples.
    pub input: Vec<u8>,
    pub reply: Sender<std::result::Result<Prediction, String>>,
}

#[derive(Debug, Clone)]
pub struct Prediction {
    pub class: u32,
    pub probabilities: Vec<f32>,
}

/// How often the loop looks at `stop` while no job comes.
const POLL: Duration = Duration::from_millis(100);

/// Answers jobs until `stop()` says so or every sender is gone. A failed pass fails the jobs in
/// it (their requests get a 500), not the server. The queue goes when this returns, and with it
/// the jobs still in it: their requests are told at once that the server is stopping.
pub fn answer_jobs(
    backend: &mut dyn Backend,
    [height, width, channels]: [usize; 3],
    jobs: Receiver<Job>,
    stop: impl Fn() -> bool,
) {
    // `stop` is asked before every wait, so a steady stream of requests cannot keep it running.
    while !stop() {
        let first = match jobs.recv_timeout(POLL) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < backend.batch_size() {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let n = batch.len();
        let set = Dataset {
            images: batch
                .iter()
                .flat_map(|j| j.input.iter().copied())
                .collect::<Vec<u8>>()
                .into(),
            labels: vec![0; n],
            n,
            height,
            width,
            channels,
        };
        match run(backend, &set) {
            Ok(predictions) => {
                for (job, p) in batch.into_iter().zip(predictions) {
                    // The request may have gone (its client hung up): nothing to tell.
                    let _ = job.reply.send(Ok(p));
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.reply.send(Err(format!("the model failed: {e}")));
                }
            }
        }
    }
}

fn run(backend: &mut dyn Backend, set: &Dataset) -> Result<Vec<Prediction>> {
    let r = evaluate(backend, set)?;
    let classes = r.probs.len() / set.n.max(1);
    Ok(r.preds
        .iter()
        .zip(r.probs.chunks(classes.max(1)))
        .map(|(&class, p)| Prediction {
            class,
            probabilities: p.to_vec(),
        })
        .collect())
}
