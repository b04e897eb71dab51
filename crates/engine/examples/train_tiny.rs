//! Trains the `tiny` preset on MNIST from Rust, with the engine's own types only: a model, a plan,
//! a graph on the CPU (or on a GPU adapter with `gpu` as the argument), and the data crate to read
//! the files. No command line, no configuration files, no environment.
//!
//! ```sh
//! cargo run --release -p wgnn-engine --example train_tiny          # CPU backend
//! cargo run --release -p wgnn-engine --example train_tiny -- gpu   # the first GPU adapter
//! ```

use std::path::Path;

use wgnn_engine::graph::{Backend, CpuGraph, GpuGraph, Plan};
use wgnn_engine::model::preset;
use wgnn_engine::runtime::{DeviceOptions, GpuContext};
use wgnn_engine::util::rng::Rng;

const EPOCHS: usize = 2;
const SEED: u64 = 42;

fn main() -> wgnn_engine::Result<()> {
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let data = wgnn_data::load_dir(&data_dir)?;
    let model = preset("tiny")?;
    let batch = model.defaults.batch_size;
    let plan = Plan::new(model.input, &model.layers, batch)?;
    let optimizer = model.defaults.optimizer.optimizer();

    let on_gpu = std::env::args().nth(1).is_some_and(|a| a == "gpu");
    let ctx;
    let mut graph: Box<dyn Backend> = if on_gpu {
        ctx = GpuContext::open(&DeviceOptions::default())?;
        Box::new(GpuGraph::new(&ctx, plan, optimizer, SEED)?)
    } else {
        Box::new(CpuGraph::new(plan, optimizer, SEED)?)
    };
    println!("tiny on {}", graph.describe());

    const TRAIN: usize = 0;
    const TEST: usize = 1;
    graph.load(TRAIN, data.train.host(data.train.len()))?;
    graph.load(TEST, data.test.host(data.test.len()))?;
    let mut order: Vec<u32> = (0..data.train.len() as u32).collect();
    let mut rng = Rng::new(SEED);
    for epoch in 1..=EPOCHS {
        rng.shuffle(&mut order);
        let stats = graph.train_at(TRAIN, &order, model.defaults.lr)?;
        println!(
            "epoch {epoch}/{EPOCHS}: loss {:.4}, accuracy {:.4}",
            stats.loss, stats.accuracy
        );
    }
    let test_order: Vec<u32> = (0..data.test.len() as u32).collect();
    let test = graph.eval(TEST, &test_order, false)?;
    println!(
        "test loss {:.4}, test accuracy {:.4} ({} images)",
        test.loss, test.accuracy, test.samples
    );
    Ok(())
}
