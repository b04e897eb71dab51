//! Checkpoints: one file, `model.safetensors`, written atomically, so its parts always agree.
//!
//! - The weights: every parameter and BN statistic, f32, named `<layer>.<tensor>` as Keras names
//!   them, in Keras layout (conv kernels [kh, kw, cin, cout], dense kernels [in, out]), so
//!   `safetensors.numpy.load_file` reads them under the names a Keras user knows.
//! - The training state, under the prefix `train_state.`: the optimizer's slots
//!   (`train_state.<slot>.<parameter>`, e.g. `train_state.velocity.conv2d.kernel`), the data
//!   order (`train_state.data_order`, u32) and, with early stopping, the best epoch's weights
//!   (`train_state.best.<tensor>`).
//! - With a moving average of the weights (`--ema`), the parameters under their own names are the
//!   average, which evaluation uses (as Keras' model holds after `fit`), and the weights being
//!   trained are `train_state.weights.<parameter>`.
//! - In the header's metadata: the format, the model definition (`model_toml`), the run's
//!   settings (`run`, JSON) and where the loop stands (`loop`, JSON: epoch, step, history, ...).
//!
//! `model.toml` beside it is a copy of the definition for people to read; the header is what
//! loading trusts. Older checkpoints (format `wgnn-1`: weights and `model.toml` only) still load
//! for `eval`, `predict` and `--init-from`, but cannot be resumed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::state::{LoopState, RunConfig, TrainState};
use wgnn_engine::error::{Error, Result};
use wgnn_engine::graph::{dims_str, GraphState, ParamSpec, Plan, Tensors};
use wgnn_engine::model::ModelSpec;
use wgnn_engine::util::fs::write_atomic;

pub const WEIGHTS: &str = "model.safetensors";
pub const MODEL: &str = "model.toml";
/// The header's `format` entry of checkpoints that carry training state.
pub const FORMAT: &str = "wgnn-2";
const FORMAT_WEIGHTS_ONLY: &str = "wgnn-1";
/// Every training-state tensor's name starts with this.
pub const STATE_PREFIX: &str = "train_state.";
const ORDER: &str = "train_state.data_order";
/// Early stopping's best weights so far: `train_state.best.<parameter or statistic>`.
const BEST: &str = "train_state.best.";
/// With a moving average: the weights being trained, `train_state.weights.<parameter>`.
const TRAINED: &str = "train_state.weights.";

/// One tensor of the file: name, shape, type and bytes.
type Entry<'a> = (String, Vec<usize>, Dtype, &'a [u8]);

/// Refuses a state that must not be saved: one holding NaN or infinity (a good checkpoint is
/// never replaced by a diverged one), or one whose optimizer slots do not match the run's.
fn check_savable(plan: &Plan, run: &RunConfig, state: &TrainState, slots: &[&str]) -> Result<()> {
    let names = |s: &[ParamSpec]| s.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    if let Some(bad) = state.first_non_finite(&names(&plan.params), &names(&plan.stats)) {
        return Err(Error::NonFinite(format!(
            "{bad} holds NaN or infinite values, so it was not saved over the last good checkpoint"
        )));
    }
    if run.ema.is_some() != state.graph.average.is_some() {
        return Err(Error::msg(
            "the run's moving average of the weights and the training state disagree on whether one is kept",
        ));
    }
    if slots.len() != state.graph.slots.len() {
        return Err(Error::msg(format!(
            "the {} optimizer keeps {} state tensors per parameter, the state has {}",
            run.optimizer,
            slots.len(),
            state.graph.slots.len()
        )));
    }
    Ok(())
}

/// Every tensor a run's checkpoint holds: the parameters and statistics under their own names,
/// then the training state (optimizer slots, early stopping's best weights, the data order).
fn entries<'a>(plan: &'a Plan, state: &'a TrainState, slots: &[&str]) -> Vec<Entry<'a>> {
    let f32s = |name: String, p: &ParamSpec, v: &'a [f32]| {
        (name, p.shape.clone(), Dtype::F32, bytemuck::cast_slice(v))
    };
    let g = &state.graph;
    let all = || plan.params.iter().chain(&plan.stats);
    // The weights people use under the plain names: the average, where one is kept.
    let used = g.average.as_ref().unwrap_or(&g.params);
    let mut entries: Vec<Entry<'a>> = all()
        .zip(used.iter().chain(&g.stats))
        .map(|(p, v)| f32s(p.name.clone(), p, v))
        .collect();
    if g.average.is_some() {
        for (p, v) in plan.params.iter().zip(&g.params) {
            entries.push(f32s(format!("{TRAINED}{}", p.name), p, v));
        }
    }
    for (slot, tensors) in slots.iter().zip(&g.slots) {
        for (p, v) in plan.params.iter().zip(tensors) {
            entries.push(f32s(format!("{STATE_PREFIX}{slot}.{}", p.name), p, v));
        }
    }
    if let Some((params, stats)) = &state.best {
        for (p, v) in all().zip(params.iter().chain(stats)) {
            entries.push(f32s(format!("{BEST}{}", p.name), p, v));
        }
    }
    entries.push((
        ORDER.into(),
        vec![state.order.len()],
        Dtype::U32,
        bytemuck::cast_slice(&state.order),
    ));
    entries
}

/// Writes the whole checkpoint of a run in one atomic file replace. Refuses a state holding NaN
/// or infinity, so a good checkpoint is never replaced by a diverged one.
pub fn save(
    dir: &Path,
    spec: &ModelSpec,
    plan: &Plan,
    run: &RunConfig,
    state: &TrainState,
) -> Result<()> {
    let slots = run.optimizer.optimizer().slot_names();
    check_savable(plan, run, state, slots)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut views = Vec::new();
    for (name, shape, dtype, bytes) in entries(plan, state, slots) {
        let view = TensorView::new(dtype, shape, bytes)
            .map_err(|e| Error::msg(format!("checkpoint tensor `{name}`: {e}")))?;
        views.push((name, view));
    }
    let meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("model".into(), spec.name.clone()),
        ("model_toml".into(), spec.to_toml()),
        ("run".into(), json(run)?),
        ("loop".into(), json(&state.progress)?),
        ("t".into(), state.graph.t.to_string()),
    ]);
    let data = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::msg(format!("writing {WEIGHTS}: {e}")))?;
    write_atomic(&dir.join(WEIGHTS), &data)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::msg(format!("checkpoint header: {e}")))
}

/// A checkpoint file read into memory.
struct File {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl File {
    fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::file(dir, "checkpoint folder not found"));
        }
        let path = dir.join(WEIGHTS);
        if !path.is_file() {
            return Err(Error::file(
                dir,
                format!("not a wgnn run: the folder has no {WEIGHTS}"),
            ));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Self { path, bytes })
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::file(&self.path, msg)
    }

    fn tensors(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes)
            .map_err(|e| self.err(format!("not a valid safetensors file: {e}")))
    }

    fn meta(&self) -> Result<HashMap<String, String>> {
        let (_, m) = SafeTensors::read_metadata(&self.bytes)
            .map_err(|e| self.err(format!("not a valid safetensors file: {e}")))?;
        let meta = m.metadata().clone().unwrap_or_default();
        match meta.get("format").map(String::as_str) {
            Some(FORMAT) | Some(FORMAT_WEIGHTS_ONLY) => Ok(meta),
            Some(other) => Err(self.err(format!(
                "written in format `{other}`, which this wgnn does not read (it reads {FORMAT} and {FORMAT_WEIGHTS_ONLY})"
            ))),
            None => Err(self.err(
                "not a wgnn checkpoint: its header has no `format` entry",
            )),
        }
    }

    /// The header of a checkpoint that carries training state.
    fn resumable_meta(&self) -> Result<HashMap<String, String>> {
        let meta = self.meta()?;
        if meta.get("format").map(String::as_str) == Some(FORMAT_WEIGHTS_ONLY) {
            return Err(self.err(
                "written by an older wgnn without training state: it cannot be resumed, only used as the starting weights of a new run",
            ));
        }
        Ok(meta)
    }

    fn entry<'m>(&self, meta: &'m HashMap<String, String>, key: &str) -> Result<&'m str> {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| self.err(format!("the header has no `{key}` entry")))
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        meta: &HashMap<String, String>,
        key: &str,
    ) -> Result<T> {
        serde_json::from_str(self.entry(meta, key)?)
            .map_err(|e| self.err(format!("the header's `{key}` entry is malformed: {e}")))
    }

    /// The f32 tensors named by `specs`, each checked for presence, shape and finiteness.
    fn f32s(&self, st: &SafeTensors<'_>, specs: &[ParamSpec], prefix: &str) -> Result<Tensors> {
        specs
            .iter()
            .map(|p| {
                let name = format!("{prefix}{}", p.name);
                let t = st.tensor(&name).map_err(|_| {
                    self.err(format!(
                        "tensor `{name}` missing: the checkpoint is from another model"
                    ))
                })?;
                if t.dtype() != Dtype::F32 || t.shape() != p.shape.as_slice() {
                    return Err(self.err(format!(
                        "tensor `{name}` is {} {}, the model needs F32 {}",
                        t.dtype(),
                        dims_str(t.shape()),
                        dims_str(&p.shape)
                    )));
                }
                let v: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(self.err(format!("tensor `{name}` holds NaN or infinite values")));
                }
                Ok(v)
            })
            .collect()
    }
}

/// The model definition of checkpoint `dir`: from the header, or from `model.toml` for
/// checkpoints written before the header held it.
pub fn load_spec(dir: &Path) -> Result<ModelSpec> {
    let file = File::open(dir)?;
    let meta = file.meta()?;
    match meta.get("model_toml") {
        Some(text) => ModelSpec::from_toml_str(text, &file.path.display().to_string()),
        None => ModelSpec::from_toml_file(&dir.join(MODEL)),
    }
}

/// Parameters and statistics of checkpoint `dir`, checked tensor by tensor against `plan`.
pub fn load_params(dir: &Path, plan: &Plan) -> Result<(Tensors, Tensors)> {
    let file = File::open(dir)?;
    file.meta()?;
    let st = file.tensors()?;
    Ok((
        file.f32s(&st, &plan.params, "")?,
        file.f32s(&st, &plan.stats, "")?,
    ))
}

/// The momentum of the moving average that checkpoint `dir`'s weights are, when the run that
/// wrote it kept one (its weights under their own names are then the average, not the last
/// step's); None for checkpoints without training state.
pub fn averaged(dir: &Path) -> Result<Option<f32>> {
    let file = File::open(dir)?;
    let meta = file.meta()?;
    match meta.contains_key("run") {
        true => Ok(file.json::<RunConfig>(&meta, "run")?.ema),
        false => Ok(None),
    }
}

/// The settings of the run that wrote checkpoint `dir` (it must hold training state).
pub fn load_run(dir: &Path) -> Result<RunConfig> {
    let file = File::open(dir)?;
    let meta = file.resumable_meta()?;
    file.json(&meta, "run")
}

/// The run settings and whole training state of checkpoint `dir`, to resume it.
pub fn load_training(dir: &Path, plan: &Plan) -> Result<(RunConfig, TrainState)> {
    let file = File::open(dir)?;
    let meta = file.resumable_meta()?;
    let run: RunConfig = file.json(&meta, "run")?;
    let progress: LoopState = file.json(&meta, "loop")?;
    let t: u32 = file
        .entry(&meta, "t")?
        .parse()
        .map_err(|_| file.err("the header's `t` entry is not a step count"))?;
    let st = file.tensors()?;
    let slots = run
        .optimizer
        .optimizer()
        .slot_names()
        .iter()
        .map(|slot| file.f32s(&st, &plan.params, &format!("{STATE_PREFIX}{slot}.")))
        .collect::<Result<Vec<_>>>()?;
    let order = st
        .tensor(ORDER)
        .map_err(|_| file.err(format!("tensor `{ORDER}` missing")))?;
    if order.dtype() != Dtype::U32 || order.shape().len() != 1 {
        return Err(file.err(format!("tensor `{ORDER}` is not a list of u32 indices")));
    }
    let order: Vec<u32> = bytemuck::pod_collect_to_vec(order.data());
    let plain = file.f32s(&st, &plan.params, "")?;
    let (params, average) = match run.ema {
        Some(_) => (file.f32s(&st, &plan.params, TRAINED)?, Some(plain)),
        None => (plain, None),
    };
    let graph = GraphState {
        params,
        stats: file.f32s(&st, &plan.stats, "")?,
        slots,
        t,
        average,
    };
    let best = match st.names().iter().any(|n| n.starts_with(BEST)) {
        true => Some((
            file.f32s(&st, &plan.params, BEST)?,
            file.f32s(&st, &plan.stats, BEST)?,
        )),
        false => None,
    };
    Ok((
        run,
        TrainState {
            graph,
            progress,
            order,
            best,
        },
    ))
}
