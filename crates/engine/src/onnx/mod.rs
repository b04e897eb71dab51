//! ONNX graphs (opset 15, IR version 8): the builder layers emit their nodes into, and the
//! protobuf messages in `proto.rs`. What each layer kind emits is in its own file
//! (`LayerKind::to_onnx` in `crates/engine/src/layers/NAME.rs`); the walk over a model is `layers::export_onnx`.
//!
//! The graph takes `input`, float32 `[N, H, W, C]` in [0, 1] exactly as `wgnn predict` feeds the
//! model, transposes it to NCHW (ONNX's layout for Conv and pooling), and gives `probabilities`,
//! `[N, classes]`. Image tensors inside the graph are NCHW; flat ones `[N, features]`.

pub mod proto;

use std::collections::HashMap;

use crate::error::{Error, Result};
use proto::*;

/// What layers' ONNX emitters return: a value, or a message naming what does not fit.
pub type Res<T> = std::result::Result<T, String>;

/// The opset written (`ai.onnx`).
pub const OPSET: i64 = 15;
/// The IR version written.
pub const IR_VERSION: i64 = 8;
/// Name of the graph's input, `[N, H, W, C]`.
pub const INPUT: &str = "input";
/// Name of the graph's output, `[N, classes]`.
pub const OUTPUT: &str = "probabilities";
/// The symbolic batch dimension.
pub const BATCH: &str = "N";

/// An attribute value.
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// What one layer's emission is given.
pub struct OnnxCx<'a> {
    /// The layer's Keras name ("conv2d_1"): its nodes' and tensors' prefix.
    pub name: &'a str,
    /// Input and output shapes without the batch axis, Keras' (`[H, W, C]` or `[n]`).
    pub input: &'a [usize],
    pub output: &'a [usize],
    /// The graph tensor holding the layer's input (NCHW for an image).
    pub x: String,
}

/// The graph being built: nodes, initializers, and the checkpoint's tensors by name.
pub struct OnnxBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl OnnxBuilder {
    /// A builder over the named tensors (`conv2d.kernel`, ...), with their shapes.
    pub fn new(tensors: HashMap<String, (Vec<usize>, Vec<f32>)>) -> Self {
        OnnxBuilder {
            nodes: Vec::new(),
            initializers: Vec::new(),
            tensors,
        }
    }

    /// Adds node `op` named `name` over `inputs`; its output tensor is named `name` too.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        let attribute = attrs
            .into_iter()
            .map(|(n, a)| {
                let mut p = AttributeProto {
                    name: n.to_string(),
                    ..Default::default()
                };
                match a {
                    Attr::Int(i) => {
                        p.i = Some(i);
                        p.r#type = attr_type::INT;
                    }
                    Attr::Ints(v) => {
                        p.ints = v;
                        p.r#type = attr_type::INTS;
                    }
                    Attr::Float(f) => {
                        p.f = Some(f);
                        p.r#type = attr_type::FLOAT;
                    }
                }
                p
            })
            .collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            name: name.to_string(),
            op_type: op.to_string(),
            attribute,
        });
        name.to_string()
    }

    /// The checkpoint tensor `name` with its shape, or a message naming it.
    pub fn tensor(&self, name: &str) -> Res<(&[usize], &[f32])> {
        self.tensors
            .get(name)
            .map(|(s, v)| (s.as_slice(), v.as_slice()))
            .ok_or_else(|| format!("the checkpoint has no tensor `{name}`"))
    }

    /// Adds a float initializer `name` of shape `dims`; returns its name.
    pub fn initializer(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.to_string(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_string()
    }

    /// Adds checkpoint tensor `name` unchanged as an initializer of the same name.
    pub fn param(&mut self, name: &str) -> Res<String> {
        let (dims, values) = self.tensor(name)?;
        let (dims, values) = (dims.to_vec(), values.to_vec());
        Ok(self.initializer(name, &dims, &values))
    }

    /// Number of nodes so far.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// `shape` as an image `[H, W, C]`, or a message.
pub fn image(shape: &[usize]) -> Res<[usize; 3]> {
    match shape {
        [h, w, c] => Ok([*h, *w, *c]),
        _ => Err(format!("expected an image input, got {shape:?}")),
    }
}

/// ONNX `pads` of a window of `kernel` with `strides` over `input` giving `out`, with `lead`
/// rows and columns of padding before the first window: `[top, left, bottom, right]`. The
/// trailing padding is what the last window needs beyond the input (TensorFlow's rule puts the
/// odd pixel there); 0 when it fits.
pub fn pads(
    input: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    out: [usize; 2],
    lead: [usize; 2],
) -> Vec<i64> {
    let trail = |a: usize| {
        ((out[a] - 1) * strides[a] + kernel[a]).saturating_sub(input[a] + lead[a]) as i64
    };
    vec![lead[0] as i64, lead[1] as i64, trail(0), trail(1)]
}

/// A `[N, dims...]` float value description.
fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let dim = std::iter::once(Dimension {
        dim_value: None,
        dim_param: Some(BATCH.to_string()),
    })
    .chain(dims.iter().map(|&d| Dimension {
        dim_value: Some(d as i64),
        dim_param: None,
    }))
    .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// The model of the builder's nodes and weights, from `input` (`[H, W, C]`, the batch
/// dimension symbolic) to the output of the node that computes `last_value` (renamed
/// [`OUTPUT`], of shape `[classes...]`).
pub fn into_model(
    mut g: OnnxBuilder,
    name: &str,
    input: [usize; 3],
    last_value: &str,
    classes: &[usize],
) -> Result<ModelProto> {
    let last = g
        .nodes
        .iter_mut()
        .rev()
        .find(|n| n.output.first().map(String::as_str) == Some(last_value))
        .ok_or_else(|| {
            Error::model("ONNX export: the model's output is not computed by any node")
        })?;
    last.output = vec![OUTPUT.to_string()];
    let graph = GraphProto {
        node: g.nodes,
        name: name.to_string(),
        initializer: g.initializers,
        input: vec![value_info(INPUT, &input)],
        output: vec![value_info(OUTPUT, classes)],
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "wgnn".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("`{name}` exported by wgnn: input [N, H, W, C] float32 in [0, 1], output softmax probabilities [N, classes]"),
        graph: Some(graph),
    })
}
