//! Property tests of the checkpoint reader over mutated and random files: no input panics or
//! allocates what a header claims; every error is a sentence naming the file; a checkpoint from
//! another model is refused by name. Fixed seeds: every run replays the same cases.

mod common;
use common::fuzz::{mutations, no_panic, random_inputs};

use std::path::Path;
use std::time::Instant;

use wgnn::graph::{Backend, CpuGraph, HostData, Plan};
use wgnn::model::{preset, ModelSpec, OptimizerKind, Validation};
use wgnn::train::{checkpoint, DataId, LoopState, RunConfig, TrainState};

const FILE: &str = "model.safetensors";

fn spec() -> ModelSpec {
    preset("tiny").unwrap()
}

fn run_config() -> RunConfig {
    RunConfig {
        model: "tiny".into(),
        batch_size: 4,
        optimizer: OptimizerKind::Adam,
        lr: 0.001,
        validation: Validation::Split(0.2),
        seed: 1,
        limit: Some(16),
        data: DataId::new(Path::new("data/mnist"), &[1, 2, 3], &[0]),
        epochs: 2,
        checkpoint_every: None,
        log_every: None,
        target_accuracy: None,
        schedule: Default::default(),
        warmup_epochs: 0.0,
        plateau: None,
        early_stopping: None,
        monitor: Default::default(),
        weight_decay: 0.0,
        label_smoothing: 0.0,
        augment: None,
        ema: None,
    }
}

/// A real checkpoint of `tiny` after two training steps, as bytes.
fn valid_checkpoint(dir: &Path) -> (Plan, Vec<u8>) {
    let spec = spec();
    let plan = Plan::new(spec.input, &spec.layers, 4).unwrap();
    let mut c = CpuGraph::new(plan.clone(), OptimizerKind::Adam.optimizer(), 1).unwrap();
    let images: Vec<u8> = (0..8 * 784).map(|i| (i % 251) as u8).collect();
    let labels: Vec<u8> = (0..8).map(|i| i as u8).collect();
    c.load(0, HostData::copied(&images, &labels, 784)).unwrap();
    c.train_at(0, &(0..8).collect::<Vec<u32>>(), 0.001).unwrap();
    let state = TrainState {
        graph: c.state().unwrap(),
        progress: LoopState {
            epoch: 1,
            ..Default::default()
        },
        order: (0..8).rev().collect(),
        best: None,
    };
    checkpoint::save(dir, &spec, &plan, &run_config(), &state).unwrap();
    let bytes = std::fs::read(dir.join(FILE)).unwrap();
    (plan, bytes)
}

/// Every reader on `bytes`; returns how many accepted it.
fn check(case: &str, dir: &Path, plan: &Plan, bytes: &[u8]) -> usize {
    std::fs::write(dir.join(FILE), bytes).unwrap();
    let mut ok = 0;
    if let Some(s) = no_panic(case, bytes, Some(FILE), || checkpoint::load_spec(dir)) {
        // A definition that parses must also compile, or fail with a sentence.
        no_panic(case, bytes, None, || Plan::new(s.input, &s.layers, 4));
        ok += 1;
    }
    if let Some((p, s)) = no_panic(case, bytes, Some(FILE), || {
        checkpoint::load_params(dir, plan)
    }) {
        assert_eq!(p.len(), plan.params.len(), "{case}");
        assert_eq!(s.len(), plan.stats.len(), "{case}");
        ok += 1;
    }
    no_panic(case, bytes, Some(FILE), || checkpoint::load_run(dir));
    if let Some((_, st)) = no_panic(case, bytes, Some(FILE), || {
        checkpoint::load_training(dir, plan)
    }) {
        assert!(st
            .graph
            .params
            .iter()
            .chain(st.graph.slots.iter().flatten())
            .all(|t| t.iter().all(|v| v.is_finite())));
        ok += 1;
    }
    ok
}

#[test]
fn the_valid_checkpoint_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, bytes) = valid_checkpoint(dir.path());
    assert_eq!(check("valid", dir.path(), &plan, &bytes), 3);
    let (run, state) = checkpoint::load_training(dir.path(), &plan).unwrap();
    assert_eq!(run, run_config());
    assert_eq!(state.progress.epoch, 1);
    assert_eq!(state.order, (0..8).rev().collect::<Vec<u32>>());
    assert_eq!(state.graph.t, 2);
    assert_eq!(
        checkpoint::load_spec(dir.path()).unwrap().to_toml(),
        spec().to_toml()
    );
}

#[test]
fn mutated_checkpoints_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, valid) = valid_checkpoint(dir.path());
    let t0 = Instant::now();
    let (mut cases, mut accepted) = (0, 0);
    for (i, bytes) in mutations(7, &valid, 4_000).enumerate() {
        accepted += check(
            &format!("checkpoint-mutation-{i}"),
            dir.path(),
            &plan,
            &bytes,
        );
        cases += 1;
    }
    // Mutations inside the tensor data keep the file valid: the deep checks run too.
    assert!(
        accepted > 500,
        "only {accepted} reads of {cases} mutated files succeeded"
    );
    eprintln!(
        "{cases} mutated checkpoints in {:.2?}, {accepted} reads succeeded",
        t0.elapsed()
    );
}

#[test]
fn random_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, _) = valid_checkpoint(dir.path());
    // Some start with a plausible header length, to get past the first check.
    for (i, bytes) in random_inputs(8, &[0x40, 0, 0, 0, 0, 0, 0, 0], 600, 2_000).enumerate() {
        assert_eq!(
            check(&format!("checkpoint-random-{i}"), dir.path(), &plan, &bytes),
            0
        );
    }
}

#[test]
fn a_checkpoint_of_another_model_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    valid_checkpoint(dir.path());
    let convnet = preset("convnet").unwrap();
    let other = Plan::new(convnet.input, &convnet.layers, 4).unwrap();
    let e = checkpoint::load_training(dir.path(), &other)
        .unwrap_err()
        .to_string();
    assert!(e.contains(FILE) && e.contains("conv2d.kernel"), "{e}");
}
