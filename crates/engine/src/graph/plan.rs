//! A model compiled for one batch size: its ops, activation sizes and parameter layout.

use crate::error::{Error, Result};
use crate::layers::{compile, elements, LayerInfo};
pub use crate::layers::{dims_str, Init, Node, ParamSpec};
use crate::layers::{ConvMaxPool, Layer};

#[derive(Clone, Debug)]
pub struct Plan {
    /// One compiled op per layer.
    pub nodes: Vec<Node>,
    /// Elements per sample of each activation: `act_len[0]` is the input, `act_len[i + 1]` the
    /// output of node i.
    pub act_len: Vec<usize>,
    pub params: Vec<ParamSpec>,
    pub stats: Vec<ParamSpec>,
    pub max_batch: usize,
    pub classes: usize,
    /// The input image: [H, W, C].
    pub input: [usize; 3],
    /// The layer each node comes from, for messages: "layer 3 (dense)" (numbered from 1, as in
    /// model files).
    pub node_layers: Vec<String>,
}

impl Plan {
    /// For each node i, nodes i and i + 1 as one pass when node i fuses the max pooling node
    /// i + 1 is (a convolution and its pooling); each backend keeps the pairs it runs fused.
    pub fn conv_pool_pairs(&self) -> Vec<Option<ConvMaxPool>> {
        let mut out: Vec<Option<ConvMaxPool>> = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            // A node fused as the second of a pair starts no pair of its own.
            let taken = i > 0 && out[i - 1].is_some();
            let next = self.nodes.get(i + 1).and_then(|n| n.max_pool());
            out.push(next.filter(|_| !taken).and_then(|p| node.fuse_max_pool(&p)));
        }
        out
    }

    /// `input` is [H, W, C]; the last layer must produce softmax class scores.
    pub fn new(input: [usize; 3], layers: &[Layer], max_batch: usize) -> Result<Self> {
        if max_batch == 0 {
            return Err(Error::Msg("batch size must be at least 1".into()));
        }
        let seq = compile(input, layers, max_batch)?;
        let act_len: Vec<usize> = std::iter::once(input.iter().product())
            .chain(seq.infos.iter().map(|l| l.output_shape.iter().product()))
            .collect();
        let node_layers: Vec<String> = seq
            .infos
            .iter()
            .enumerate()
            .map(|(i, l)| format!("layer {} ({})", i + 1, l.name))
            .collect();
        // Every activation, for the whole batch, must fit the kernels' 32-bit indexing.
        for (k, &len) in act_len.iter().enumerate() {
            let what = match k {
                0 => "the input batch".to_string(),
                _ => format!("{}: the output batch", node_layers[k - 1]),
            };
            elements(&[max_batch, len], &what).map_err(Error::Model)?;
        }
        let classes = seq
            .infos
            .last()
            .map_or(0, |l: &LayerInfo| l.output_shape[0]);
        Ok(Self {
            classes,
            nodes: seq.nodes,
            act_len,
            params: seq.params,
            stats: seq.stats,
            max_batch,
            node_layers,
            input,
        })
    }

    pub fn input_len(&self) -> usize {
        self.act_len[0]
    }

    /// A data set must hold images of the model's input size and labels below its class count.
    pub fn check_data(&self, data: &super::HostData) -> Result<()> {
        if data.sample_len != self.input_len() {
            return Err(Error::Msg(format!(
                "data has {} values per image, the model expects {}",
                data.sample_len,
                self.input_len()
            )));
        }
        if data.images.len() != data.len() * data.sample_len {
            return Err(Error::Msg(format!(
                "data has {} image bytes for {} labels of {} values each",
                data.images.len(),
                data.len(),
                data.sample_len
            )));
        }
        if let Some(i) = data.labels.iter().position(|&l| l as usize >= self.classes) {
            return Err(Error::Msg(format!(
                "label {} of sample {i} is outside the model's {} classes",
                data.labels[i], self.classes
            )));
        }
        Ok(())
    }
}
