//! Compiling a Sequential list of layers: names, shapes, parameters and ops, checked once, for
//! both `wgnn summary` and the graphs.

use std::collections::HashMap;

use super::build::{elements, shape_str};
use super::{Build, Layer, Node, ParamSpec};
use crate::error::{Error, Result};

/// One layer after shape inference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// Keras-style unique name: conv2d, conv2d_1, max_pooling2d, flatten, dense, dense_1, ...
    pub name: String,
    /// Keras class name: Conv2D, MaxPooling2D, Flatten, Dense, Dropout, ...
    pub kind: &'static str,
    /// Input shape without the batch axis.
    pub input_shape: Vec<usize>,
    /// Output shape without the batch axis.
    pub output_shape: Vec<usize>,
    pub params: usize,
    pub trainable: usize,
}

/// Every layer compiled for batches of `max_batch`.
pub struct Sequence {
    pub infos: Vec<LayerInfo>,
    pub nodes: Vec<Node>,
    pub params: Vec<ParamSpec>,
    pub stats: Vec<ParamSpec>,
}

/// Checks and compiles `layers` on an input of `input` ([H, W, C]). Errors name the layer, e.g.
/// `model: layer 3 (conv2d_1): kernel 3x3 is larger than its 2x2 input`. The last layer must be a
/// softmax over at least 2 classes.
pub fn compile(input: [usize; 3], layers: &[Layer], max_batch: usize) -> Result<Sequence> {
    let [h, w, c] = input;
    if h == 0 || w == 0 || c == 0 {
        return Err(Error::model(format!(
            "input shape {h}x{w}x{c} must have no zero dimension"
        )));
    }
    if layers.is_empty() {
        return Err(Error::model("model has no layers"));
    }
    elements(&input, "the model input").map_err(Error::Model)?;
    let mut seq = Sequence {
        infos: Vec::with_capacity(layers.len()),
        nodes: Vec::with_capacity(layers.len()),
        params: Vec::new(),
        stats: Vec::new(),
    };
    let mut counters: HashMap<&'static str, usize> = HashMap::new();
    let mut shape = input.to_vec();
    for (i, layer) in layers.iter().enumerate() {
        let base = layer.base_name();
        let k = counters.entry(base).or_insert(0);
        let name = match *k {
            0 => base.to_string(),
            k => format!("{base}_{k}"),
        };
        *k += 1;
        let (p0, s0) = (seq.params.len(), seq.stats.len());
        let mut cx = Build {
            input: &shape,
            max_batch,
            last: i + 1 == layers.len(),
            name: &name,
            index: i,
            params: &mut seq.params,
            stats: &mut seq.stats,
        };
        let built = layer
            .build(&mut cx)
            .map_err(|m| Error::model(format!("layer {} ({name}): {m}", i + 1)))?;
        let trainable: usize = seq.params[p0..].iter().map(|p| p.len()).sum();
        let frozen: usize = seq.stats[s0..].iter().map(|p| p.len()).sum();
        seq.infos.push(LayerInfo {
            name,
            kind: layer.kind(),
            input_shape: std::mem::replace(&mut shape, built.output.clone()),
            output_shape: built.output,
            params: trainable + frozen,
            trainable,
        });
        seq.nodes.push(built.node);
    }
    let last = layers.len() - 1;
    let li = &seq.infos[last];
    if !layers[last].is_softmax() {
        return Err(Error::model(format!(
            "layer {} ({}): the model must end with a softmax (a Dense layer with activation \"softmax\", or a softmax Activation)",
            last + 1,
            li.name
        )));
    }
    if li.output_shape.len() != 1 || li.output_shape[0] < 2 {
        return Err(Error::model(format!(
            "layer {} ({}): the final softmax must output a flat vector of at least 2 classes, got {}",
            last + 1,
            li.name,
            shape_str(&li.output_shape)
        )));
    }
    Ok(seq)
}
