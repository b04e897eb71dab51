//! Property tests of the TOML model parser over random bytes and mutated valid models (bit flips,
//! truncations, insertions, numbers replaced by huge ones): no input panics; every error is a
//! sentence naming the file; every model it accepts compiles to a plan (or a clear error), fits
//! the memory check (or a clear error) and survives a round trip through `to_toml`.

mod common;
use common::fuzz::{digit_runs, mutations, no_panic, random_inputs, HUGE_DECIMAL};

use std::path::Path;
use std::time::Instant;

use wgnn_engine::graph::{Limits, Plan};
use wgnn_engine::model::{ModelSpec, PRESETS};

const FILE: &str = "fuzz-model.toml";

/// Every layer type and field, so mutations reach every branch of the parser.
const VALID: &str = r#"name = "every"
input = [28, 28, 1]

[train]
optimizer = "adam"
lr = 0.001
batch_size = 32
epochs = 2
validation_split = 0.1

[[layers]]
type = "conv2d"
filters = 8
kernel_size = [3, 3]
strides = [1, 1]
padding = "same"
activation = "relu"

[[layers]]
type = "batchnorm"
momentum = 0.99
epsilon = 0.001

[[layers]]
type = "maxpool2d"
pool_size = 2
strides = [2, 2]

[[layers]]
type = "activation"
activation = "relu"

[[layers]]
type = "flatten"

[[layers]]
type = "dropout"
rate = 0.25

[[layers]]
type = "dense"
units = 10
activation = "softmax"
"#;

/// Parses `bytes` as a model file; what it accepts must also compile and round-trip.
fn check(case: &str, bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some(spec) = no_panic(case, bytes, Some(FILE), || {
        ModelSpec::from_toml_str(&text, FILE)
    }) else {
        return false;
    };
    // Accepted models: the summary, a plan at the file's batch size, the memory check.
    no_panic(case, bytes, None, || spec.summary());
    let batch = spec.defaults.batch_size;
    if let Some(plan) = no_panic(case, bytes, None, || {
        Plan::new(spec.input, &spec.layers, batch)
    }) {
        no_panic(case, bytes, None, || plan.check_fits(&Limits::host()));
    }
    let again = ModelSpec::from_toml_str(&spec.to_toml(), FILE)
        .unwrap_or_else(|e| panic!("{case}: its own to_toml does not parse: {e}\n{text}"));
    assert_eq!(again, spec, "{case}: round trip changed the model");
    true
}

#[test]
fn the_seed_model_is_valid() {
    assert!(check("seed", VALID.as_bytes()));
}

#[test]
fn mutated_models_never_panic() {
    let t0 = Instant::now();
    let (mut cases, mut accepted) = (0, 0);
    let mut seeds: Vec<String> = vec![VALID.to_string()];
    seeds.extend(
        PRESETS
            .iter()
            .map(|p| wgnn_engine::model::preset(p).unwrap().to_toml()),
    );
    for (k, seed) in seeds.iter().enumerate() {
        for (i, bytes) in mutations(100 + k as u64, seed.as_bytes(), 3_000).enumerate() {
            accepted += usize::from(check(&format!("toml-mutation-{k}-{i}"), &bytes));
            cases += 1;
        }
    }
    // Many mutations (a changed number, a dropped comment) still give a valid model, so the
    // plan and memory checks run on odd but accepted models too. (Parsing compiles the layers
    // for one sample, so a layer too large for 32-bit indexing is already refused there.)
    assert!(
        accepted > 200,
        "only {accepted} of {cases} mutated models parsed"
    );
    eprintln!(
        "{cases} mutated model files ({accepted} accepted) in {:.2?}",
        t0.elapsed()
    );
}

#[test]
fn every_number_replaced_by_a_huge_one() {
    // Exhaustive over the seed model: each number (sizes, rates, the batch) set to each edge
    // value, so the plan's size checks see them all.
    let valid = VALID.as_bytes();
    let (mut cases, mut accepted) = (0, 0);
    for (i, j) in digit_runs(valid) {
        for s in HUGE_DECIMAL {
            let mut b = valid.to_vec();
            b.splice(i..j, s.bytes());
            accepted += usize::from(check(&format!("toml-number-{i}-{s}"), &b));
            cases += 1;
        }
    }
    assert!(cases > 200 && accepted > 20, "{accepted} of {cases}");
}

#[test]
fn random_bytes_never_panic() {
    let t0 = Instant::now();
    let prefix = b"[[layers]]\ntype = \"";
    let mut cases = 0;
    for (i, bytes) in random_inputs(7, prefix, 80, 5_000).enumerate() {
        check(&format!("toml-random-{i}"), &bytes);
        cases += 1;
    }
    assert_eq!(cases, 5_000);
    eprintln!("{cases} random model files in {:.2?}", t0.elapsed());
}

#[test]
fn regression_models_are_clear_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.starts_with("model-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        // The parser, then the plan (where the sizes are checked).
        let text = String::from_utf8_lossy(&bytes);
        let r = no_panic(&name, &bytes, None, || {
            let spec = ModelSpec::from_toml_str(&text, FILE)?;
            let plan = Plan::new(spec.input, &spec.layers, spec.defaults.batch_size)?;
            plan.check_fits(&Limits::host())
        });
        assert!(r.is_none(), "{name} was accepted");
        n += 1;
    }
    assert!(
        n >= 2,
        "only {n} model regression files in {}",
        dir.display()
    );
}
