//! A whole Sequential model as an ONNX graph: each layer emits its own nodes
//! (`LayerKind::to_onnx`) after a transpose of the NHWC input to ONNX's NCHW.

use prost::Message;

use super::{compile, Layer, ParamSpec};
use crate::error::{Error, Result};
use crate::onnx::{into_model, proto::ModelProto, Attr, OnnxBuilder, OnnxCx, INPUT};

/// What [`export`] built.
pub struct Exported {
    pub model: ModelProto,
    /// Layers of the model, and those that left nothing in the graph (Dropout).
    pub layers: usize,
    pub omitted: usize,
    pub nodes: usize,
}

impl Exported {
    pub fn bytes(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }
}

/// The ONNX model of `layers` on `[H, W, C]` inputs, with parameters `params` and statistics
/// `stats` (in the order of `specs` and `stat_specs`, as `checkpoint::load_params` gives them).
pub fn export(
    name: &str,
    input: [usize; 3],
    layers: &[Layer],
    specs: (&[ParamSpec], &[ParamSpec]),
    values: (&[Vec<f32>], &[Vec<f32>]),
) -> Result<Exported> {
    let seq = compile(input, layers, 1)?;
    let tensors = specs
        .0
        .iter()
        .zip(values.0)
        .chain(specs.1.iter().zip(values.1))
        .map(|(s, v)| (s.name.clone(), (s.shape.clone(), v.clone())))
        .collect();
    let mut g = OnnxBuilder::new(tensors);
    let mut x = g.node(
        "Transpose",
        "input_nchw",
        &[INPUT],
        vec![("perm", Attr::Ints(vec![0, 3, 1, 2]))],
    );
    let mut omitted = 0;
    for (i, (layer, info)) in layers.iter().zip(&seq.infos).enumerate() {
        let before = g.node_count();
        let cx = OnnxCx {
            name: &info.name,
            input: &info.input_shape,
            output: &info.output_shape,
            x: x.clone(),
        };
        x = layer.to_onnx(&mut g, &cx).map_err(|m| {
            Error::model(format!("layer {} ({}): ONNX export: {m}", i + 1, info.name))
        })?;
        if g.node_count() == before {
            omitted += 1;
        }
    }
    let classes = seq
        .infos
        .last()
        .map(|l| l.output_shape.clone())
        .unwrap_or_default();
    let nodes = g.node_count();
    let model = into_model(g, name, input, &x, &classes)?;
    Ok(Exported {
        model,
        layers: layers.len(),
        omitted,
        nodes,
    })
}
