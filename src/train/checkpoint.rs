//! Checkpoints: a folder with `model.safetensors` (every parameter and BN statistic, f32,
//! named `<layer>.<tensor>` as Keras names them, shapes in Keras layout: conv kernels
//! [kh, kw, cin, cout], dense kernels [in, out]) and `model.toml` (the model definition).
//! Files are written atomically, so an interrupted run never leaves a half-written checkpoint.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::graph::{Plan, Tensors};
use crate::model::ModelSpec;
use crate::report::write_atomic;

pub const WEIGHTS: &str = "model.safetensors";
pub const MODEL: &str = "model.toml";

pub fn save(
    dir: &Path,
    spec: &ModelSpec,
    plan: &Plan,
    params: &[Vec<f32>],
    stats: &[Vec<f32>],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let bytes: Vec<Vec<u8>> = params
        .iter()
        .chain(stats)
        .map(|v| bytemuck::cast_slice(v).to_vec())
        .collect();
    let mut views = Vec::new();
    for (p, b) in plan.params.iter().chain(&plan.stats).zip(&bytes) {
        let view = TensorView::new(Dtype::F32, p.shape.clone(), b)
            .map_err(|e| Error::msg(format!("checkpoint tensor {}: {e}", p.name)))?;
        views.push((p.name.clone(), view));
    }
    let meta = HashMap::from([
        ("model".to_string(), spec.name.clone()),
        ("format".into(), "wgnn-1".into()),
    ]);
    let data = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::msg(format!("writing {WEIGHTS}: {e}")))?;
    write_atomic(&dir.join(MODEL), spec.to_toml().as_bytes())?;
    write_atomic(&dir.join(WEIGHTS), &data)
}

/// The model definition of checkpoint `dir`.
pub fn load_spec(dir: &Path) -> Result<ModelSpec> {
    if !dir.is_dir() {
        return Err(Error::file(
            dir,
            "checkpoint folder not found (train one with `wgnn train --out DIR`)",
        ));
    }
    ModelSpec::from_toml_file(&dir.join(MODEL))
}

/// Parameters and statistics of checkpoint `dir`, checked tensor by tensor against `plan`.
pub fn load_params(dir: &Path, plan: &Plan) -> Result<(Tensors, Tensors)> {
    let path = dir.join(WEIGHTS);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::file(&path, format!("not a valid safetensors file: {e}")))?;
    let read = |specs: &[crate::graph::ParamSpec]| -> Result<Vec<Vec<f32>>> {
        specs
            .iter()
            .map(|p| {
                let t = st.tensor(&p.name).map_err(|_| {
                    Error::file(
                        &path,
                        format!(
                            "tensor `{}` missing: the checkpoint is from another model",
                            p.name
                        ),
                    )
                })?;
                if t.dtype() != Dtype::F32 || t.shape() != p.shape.as_slice() {
                    return Err(Error::file(
                        &path,
                        format!(
                            "tensor `{}` is {:?} {:?}, the model needs F32 {:?}",
                            p.name,
                            t.dtype(),
                            t.shape(),
                            p.shape
                        ),
                    ));
                }
                let v: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(Error::file(
                        &path,
                        format!("tensor `{}` holds NaN or infinite values", p.name),
                    ));
                }
                Ok(v)
            })
            .collect()
    };
    Ok((read(&plan.params)?, read(&plan.stats)?))
}
