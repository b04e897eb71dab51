//! `wgnn plan`: one training step of a model, dispatch by dispatch, with what each costs and its
//! predicted time on the reference GPU. The step is compiled and recorded on wgpu's noop device
//! (the reference GPU's limits, nothing runs), so it needs no GPU driver and gives the dispatches
//! a real device records.

use super::device::Device;
use crate::error::{Error, Result};
use crate::graph::cost::{predict_step, StepCost, H200};
use crate::graph::Plan;
use crate::model::{for_data, ModelSpec};
use crate::util::bytes::human;

/// The flags of `wgnn plan`.
#[derive(clap::Args, Clone, Debug)]
pub struct PlanArgs {
    /// A preset or a .toml file
    #[arg(long, default_value = "convnet", value_parser = crate::model::resolve)]
    pub model: ModelSpec,
    /// [default: the model's]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Size the model for this data's images and classes [default: the model's own input]
    #[command(flatten)]
    pub data: super::data::DataArgs,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

/// The model sized for the data the flags name (its own input when they name none).
fn sized_model(a: &PlanArgs) -> Result<ModelSpec> {
    if a.data.dataset.is_none() && a.data.data_dir.is_none() {
        return Ok(a.model.clone());
    }
    let data = a.data.load()?.splits;
    Ok(for_data(a.model.clone(), data.shape(), data.classes()))
}

/// The predicted training step of the model `a` names, on the reference GPU with `device`'s
/// kernel family and constants.
pub fn step_cost(a: &PlanArgs, device: &Device) -> Result<(ModelSpec, usize, StepCost)> {
    let spec = sized_model(a)?;
    let batch = a.batch_size.unwrap_or(spec.defaults.batch_size);
    if batch == 0 {
        return Err(Error::msg("--batch-size must be at least 1"));
    }
    let plan = Plan::new(spec.input, &spec.layers, batch)?;
    let opt = spec.defaults.optimizer.optimizer();
    let step = predict_step(&plan, opt, &device.options, &H200)?;
    Ok((spec, batch, step))
}

pub fn run(a: &PlanArgs, device: &Device) -> Result<()> {
    let (spec, batch, step) = step_cost(a, device)?;
    if a.json {
        let text = serde_json::to_string(&step).map_err(|e| Error::msg(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{}: one training step at batch {batch}, predicted on the reference {} ({} kernels)",
        spec.name, step.gpu.name, device.options.family
    );
    println!(
        "{:<40} {:>11} {:>5} {:>7} {:>6} {:>10} {:>12} {:>9}",
        "kernel", "invocations", "wg", "serial", "loads", "bytes", "flops", "µs"
    );
    for k in &step.kernels {
        let c = &k.cost;
        // A tiled kernel's step goes through workgroup memory (marked *).
        let loads = format!("{}{}", c.loads, if c.synchronised { "*" } else { "" });
        println!(
            "{:<40} {:>11} {:>5} {:>7} {:>6} {:>10} {:>12} {:>9.1}",
            k.name,
            c.invocations,
            c.workgroup,
            c.serial,
            loads,
            human(c.bytes),
            c.flops,
            k.predicted_us
        );
    }
    println!(
        "{} dispatches, {} moved, {:.2} GFLOP, {} host syncs in a step; predicted step {:.0} µs",
        step.dispatches,
        human(step.bytes),
        step.flops as f64 / 1e9,
        step.host_syncs,
        step.predicted_step_us
    );
    let slow: Vec<String> = step
        .latency_bound()
        .iter()
        .map(|k| format!("{} ({:.0} µs)", k.name, k.predicted_us))
        .collect();
    if !slow.is_empty() {
        println!(
            "Latency-bound (over 5% of the step on under 32k invocations, a loop over 64): {}",
            slow.join(", ")
        );
    }
    Ok(())
}
