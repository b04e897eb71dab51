//! TensorBoard's event files, written as Keras' `TensorBoard` callback lays them out, so that one
//! `tensorboard --logdir` shows wgnn runs beside Keras runs: `logs/train/` and
//! `logs/validation/` of a run folder each hold `events.out.tfevents.*` files of `Event` records
//! (`record`: length-prefixed, with masked CRC-32C checksums; `proto`: the protobuf messages).
//! `RunLogs` decides what goes in them: Keras' own scalar tags per epoch, the loss every N steps,
//! weight histograms and images.

pub mod proto;
pub mod record;
mod run_logs;
mod writer;

pub use run_logs::{read_dir_events, RunLogs};
pub use writer::{histogram, EventFile};
