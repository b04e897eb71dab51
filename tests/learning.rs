//! Learning works: a small model trained for a few hundred steps on a slice of MNIST gets well above
//! chance on held-out digits, on both backends.

mod common;
use common::*;
use wgnn::data::load_dir;
use wgnn::graph::{Backend, CpuGraph, GpuGraph, Plan};
use wgnn::model::{preset, ModelSpec, Validation};
use wgnn::ops::optim::Optimizer;
use wgnn::train::{evaluate, fit, Callbacks, RunConfig};

struct Quiet;
impl Callbacks for Quiet {}

fn train_and_test(backend: &mut dyn Backend) -> f32 {
    let mut data = load_dir(std::path::Path::new("data/mnist")).unwrap();
    data.test = data.test.take(1000);
    // 6,400 images, batch 32: 200 steps per epoch.
    let cfg = RunConfig {
        limit: Some(6400),
        epochs: 1,
        validation: Validation::Split(0.0),
        seed: 1,
        lr: 0.001,
        ..RunConfig::default()
    };
    let r = fit(backend, &data, &cfg, true, None, &mut Quiet).unwrap();
    assert_eq!(r.test.samples, 1000);
    let again = evaluate(backend, &data.test).unwrap();
    assert_eq!(again.accuracy, r.test.accuracy, "evaluation is repeatable");
    r.test.accuracy
}

#[test]
fn tiny_model_learns_on_gpu() {
    let spec = preset("tiny").unwrap();
    let plan = Plan::new(spec.input, &spec.layers, 32).unwrap();
    let Some(ctx) = gpu() else { return };
    let mut g = GpuGraph::new(ctx, plan, Optimizer::adam(), 1).unwrap();
    let acc = train_and_test(&mut g);
    eprintln!("GPU: test accuracy {acc} after 200 steps");
    assert!(acc > 0.85, "test accuracy {acc}");
}

#[test]
fn tiny_model_learns_on_cpu() {
    let spec = preset("tiny").unwrap();
    let plan = Plan::new(spec.input, &spec.layers, 32).unwrap();
    let mut c = CpuGraph::new(plan, Optimizer::adam(), 1).unwrap();
    let acc = train_and_test(&mut c);
    eprintln!("CPU: test accuracy {acc} after 200 steps");
    assert!(acc > 0.85, "test accuracy {acc}");
}

/// The layer kinds the presets do not use: same-padded tanh convolution and max pooling, an ELU
/// convolution, average pooling, a leaky-ReLU convolution and a sigmoid Dense layer.
const NEW_LAYERS: &str = r#"
[[layers]]
type = "conv2d"
filters = 8
kernel_size = 3
padding = "same"
activation = "tanh"
[[layers]]
type = "maxpool2d"
padding = "same"
[[layers]]
type = "conv2d"
filters = 16
kernel_size = 3
activation = "elu"
[[layers]]
type = "average_pooling2d"
[[layers]]
type = "conv2d"
filters = 32
kernel_size = 3
padding = "same"
activation = "leaky_relu"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 32
activation = "sigmoid"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
"#;

#[test]
fn the_new_layer_kinds_learn_on_both_backends() {
    let spec = ModelSpec::from_toml_str(NEW_LAYERS, "new-layers.toml").unwrap();
    let plan = Plan::new(spec.input, &spec.layers, 32).unwrap();
    let mut c = CpuGraph::new(plan.clone(), Optimizer::adam(), 1).unwrap();
    let ca = train_and_test(&mut c);
    eprintln!("test accuracy after 200 steps: CPU {ca}");
    // 6,400 images reach about 88% on both.
    assert!(ca > 0.8, "test accuracy CPU {ca}");
    let Some(ctx) = gpu() else { return };
    let mut g = GpuGraph::new(ctx, plan, Optimizer::adam(), 1).unwrap();
    let ga = train_and_test(&mut g);
    eprintln!("test accuracy after 200 steps: GPU {ga}");
    assert!(ga > 0.8, "test accuracy GPU {ga}");
    assert!((ga - ca).abs() < 0.02, "GPU {ga} and CPU {ca} learn alike");
}
