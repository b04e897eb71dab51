//! Checks both backends make on what they are given from outside: a pass, an order, parameters
//! or a whole state from a checkpoint.

use super::backend::{GraphState, Mode, Pass};
use super::plan::{dims_str, Plan};
use crate::error::{Error, Result};
use crate::ops::optim::Optimizer;

/// Parameters given from outside (a checkpoint) must match the plan tensor by tensor.
pub(super) fn check_layout(plan: &Plan, params: &[Vec<f32>], stats: &[Vec<f32>]) -> Result<()> {
    if params.len() != plan.params.len() || stats.len() != plan.stats.len() {
        return Err(Error::Msg(format!(
            "expected {} parameter and {} statistic tensors, got {} and {}",
            plan.params.len(),
            plan.stats.len(),
            params.len(),
            stats.len()
        )));
    }
    for (spec, v) in plan
        .params
        .iter()
        .chain(&plan.stats)
        .zip(params.iter().chain(stats))
    {
        if spec.len() != v.len() {
            return Err(Error::Msg(format!(
                "tensor `{}` has {} values, the model needs {} (shape {})",
                spec.name,
                v.len(),
                spec.len(),
                dims_str(&spec.shape)
            )));
        }
    }
    Ok(())
}

/// A whole training state must fit the plan and the graph's optimizer.
/// `averaging`: whether the graph keeps the parameters' moving average, which the state must then
/// hold, and otherwise must not.
pub(super) fn check_state(
    plan: &Plan,
    (opt, averaging): (Option<&Optimizer>, bool),
    s: &GraphState,
) -> Result<()> {
    let opt = opt.ok_or_else(|| Error::msg("a forward-only graph holds no training state"))?;
    check_layout(plan, &s.params, &s.stats)?;
    match (&s.average, averaging) {
        (Some(average), true) => {
            let fits = average.len() == plan.params.len()
                && average.iter().zip(&plan.params).all(|(v, p)| v.len() == p.len());
            if !fits {
                return Err(Error::msg(
                    "the weights' moving average does not match the model's parameters",
                ));
            }
        }
        (None, false) => {}
        (Some(_), false) => {
            return Err(Error::msg(
                "the training state holds a moving average of the weights, which this run does not keep",
            ))
        }
        (None, true) => {
            return Err(Error::msg(
                "this run keeps a moving average of the weights, and the training state holds none",
            ))
        }
    }
    let names = opt.slot_names();
    if s.slots.len() != names.len() {
        return Err(Error::msg(format!(
            "the optimizer keeps {} state tensors per parameter, the training state has {}",
            names.len(),
            s.slots.len()
        )));
    }
    for (name, slot) in names.iter().zip(&s.slots) {
        if slot.len() != plan.params.len()
            || slot
                .iter()
                .zip(&plan.params)
                .any(|(v, p)| v.len() != p.len())
        {
            return Err(Error::msg(format!(
                "optimizer {name}: the state tensors do not match the model's parameters"
            )));
        }
    }
    Ok(())
}

/// Sample indices must lie inside the data set.
pub(super) fn check_order(order: &[u32], samples: usize) -> Result<()> {
    match order.iter().find(|&&i| i as usize >= samples) {
        Some(&bad) => Err(Error::Msg(format!(
            "sample index {bad} out of range ({samples} samples)"
        ))),
        None => Ok(()),
    }
}

/// A training pass needs a training graph and one learning rate per step.
pub(super) fn check_pass(
    pass: &Pass<'_>,
    training_graph: bool,
    batch: usize,
    can_augment: bool,
) -> Result<()> {
    if pass.mode != Mode::Train {
        return Ok(());
    }
    if pass.augment && !can_augment {
        return Err(Error::msg(
            "an augmented pass needs `set_augment` before the data set is loaded",
        ));
    }
    if !training_graph {
        return Err(Error::msg(
            "this graph was built for inference only: it cannot train",
        ));
    }
    if !(0.0..1.0).contains(&pass.label_smoothing) {
        return Err(Error::msg(format!(
            "label smoothing {} is outside [0, 1)",
            pass.label_smoothing
        )));
    }
    let steps = pass.steps(batch);
    if pass.lrs.len() < steps {
        return Err(Error::msg(format!(
            "a training pass of {steps} steps was given {} learning rates",
            pass.lrs.len()
        )));
    }
    if let Some(lr) = pass.lrs[..steps]
        .iter()
        .find(|l| !l.is_finite() || **l < 0.0)
    {
        return Err(Error::msg(format!(
            "learning rate {lr} is not a finite number >= 0"
        )));
    }
    Ok(())
}

/// Data set `id` of a backend's loaded sets, taken out of its slot for a pass (the caller puts
/// it back), or an error saying it was never loaded.
pub(super) fn take_loaded<T>(sets: &mut [Option<T>], id: usize) -> Result<T> {
    sets.get_mut(id)
        .and_then(|d| d.take())
        .ok_or_else(|| Error::Msg(format!("data set {id} not loaded")))
}
