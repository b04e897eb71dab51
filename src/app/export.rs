//! `wgnn export --checkpoint DIR --onnx FILE`: a checkpoint's model and weights as an ONNX graph
//! (`crates/engine/src/onnx/`), written atomically.

use std::path::Path;

use crate::error::{Error, Result};
use crate::graph::Plan;
use crate::onnx;
use crate::train::checkpoint;
use crate::util::fs::write_atomic;

pub fn run(dir: &Path, out: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::msg(format!(
            "export: checkpoint folder {} does not exist",
            dir.display()
        )));
    }
    let spec = checkpoint::load_spec(dir)?;
    let plan = Plan::new(spec.input, &spec.layers, 1)?;
    let (params, stats) = checkpoint::load_params(dir, &plan)?;
    super::eval::say_weights(dir)?;
    let e = crate::layers::export_onnx::export(
        &spec.name,
        spec.input,
        &spec.layers,
        (&plan.params, &plan.stats),
        (&params, &stats),
    )?;
    let bytes = e.bytes();
    write_atomic(out, &bytes).map_err(|err| {
        Error::msg(format!(
            "export: cannot write the ONNX file {}: {err}",
            out.display()
        ))
    })?;
    let [h, w, c] = spec.input;
    let omitted = match e.omitted {
        0 => String::new(),
        n => format!(" ({n} without a node at inference: dropout, linear)"),
    };
    println!(
        "Exported `{}` from {}: {} layers{omitted} as {} ONNX nodes, opset {}, IR version {}",
        spec.name,
        dir.display(),
        e.layers,
        e.nodes,
        onnx::OPSET,
        onnx::IR_VERSION
    );
    println!(
        "input `{}` float32 [N, {h}, {w}, {c}] in [0, 1], output `{}` [N, {}]",
        onnx::INPUT,
        onnx::OUTPUT,
        plan.classes
    );
    println!(
        "Wrote {} ({} bytes)",
        out.display(),
        crate::model::thousands(bytes.len())
    );
    Ok(())
}
