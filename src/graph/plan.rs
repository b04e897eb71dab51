//! Compiles a list of layers into nodes with fixed shapes and a parameter layout.

use crate::error::{Error, Result};
use crate::model::{Activation, Layer, Padding};
use crate::ops::batchnorm::BnShape;
use crate::ops::conv2d::Conv2dShape;
use crate::ops::pool::PoolShape;

/// A named parameter tensor (Keras names: `conv2d.kernel`, `batch_normalization.moving_mean`, ...).
#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Glorot (Xavier) uniform, Keras' default kernel initialiser.
    Glorot {
        fan_in: usize,
        fan_out: usize,
    },
    Zeros,
    Ones,
}

/// One op of the compiled graph. `w`, `b`, `gamma`, `beta` index `Plan::params`; `mean`, `var`
/// index `Plan::stats` (non-trainable).
#[derive(Clone, Debug)]
pub enum Node {
    Conv {
        s: Conv2dShape,
        relu: bool,
        w: usize,
        b: usize,
    },
    Pool {
        s: PoolShape,
    },
    Dense {
        inputs: usize,
        units: usize,
        relu: bool,
        w: usize,
        b: usize,
    },
    Dropout {
        rate: f32,
        id: u32,
    },
    BatchNorm {
        s: BnShape,
        gamma: usize,
        beta: usize,
        mean: usize,
        var: usize,
    },
    Relu,
    /// Flatten, a linear activation, or the final softmax (fused into the loss).
    Identity,
}

impl Node {
    /// A short description for profiles, e.g. "conv 3x3 32->64".
    pub fn kind(&self) -> String {
        match self {
            Node::Conv { s, .. } => format!("conv {}x{} {}->{}", s.kh, s.kw, s.cin, s.cout),
            Node::Pool { s } => format!("maxpool {}x{}", s.ph, s.pw),
            Node::Dense { inputs, units, .. } => format!("dense {inputs}->{units}"),
            Node::Dropout { rate, .. } => format!("dropout {rate}"),
            Node::BatchNorm { s, .. } => format!("batchnorm {}", s.c),
            Node::Relu => "relu".into(),
            Node::Identity => "identity".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Plan {
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

/// Most elements in one tensor: the kernels index every buffer with u32.
pub const MAX_ELEMENTS: u64 = u32::MAX as u64;

/// `dims` joined as "128x28x28x1".
pub(crate) fn dims_str(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The product of `dims` when it fits 32-bit indexing, else a message naming `what`.
fn elements(dims: &[usize], what: &str) -> std::result::Result<usize, String> {
    let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    let size = match n {
        Some(n) if n <= MAX_ELEMENTS => return Ok(n as usize),
        Some(n) => format!(
            "{n} elements ({})",
            crate::util::bytes::human(n.saturating_mul(4))
        ),
        None => "more than 2^64 elements".into(),
    };
    Err(format!(
        "{what} ({}) has {size}, more than the {MAX_ELEMENTS} elements one tensor may hold (the compute kernels use 32-bit indices); use a smaller batch size or smaller layers",
        dims_str(dims)
    ))
}

fn keras_name(
    counts: &mut std::collections::HashMap<&'static str, usize>,
    base: &'static str,
) -> String {
    let c = counts.entry(base).or_insert(0);
    let name = if *c == 0 {
        base.to_string()
    } else {
        format!("{base}_{c}")
    };
    *c += 1;
    name
}

impl Plan {
    /// `input` is [H, W, C]; the last layer must produce softmax class scores.
    pub fn new(input: [usize; 3], layers: &[Layer], max_batch: usize) -> Result<Self> {
        if max_batch == 0 {
            return Err(Error::Msg("batch size must be at least 1".into()));
        }
        if layers.is_empty() {
            return Err(Error::Model("the model has no layers".into()));
        }
        let mut shape: Vec<usize> = input.to_vec();
        let mut nodes = Vec::new();
        let mut act_len = vec![elements(&shape, "the model input").map_err(Error::Model)?];
        let mut node_layers = Vec::new();
        let mut params = Vec::new();
        let mut stats = Vec::new();
        let mut names = std::collections::HashMap::new();
        let mut ends_in_softmax = false;
        for (i, layer) in layers.iter().enumerate() {
            let name = keras_name(&mut names, layer.base_name());
            let label = format!("layer {} ({name})", i + 1);
            let at = |msg: String| Error::Model(format!("{label}: {msg}"));
            ends_in_softmax = false;
            // Shapes are checked below (every activation times the batch), so the product of
            // one sample's dimensions cannot overflow here.
            let mut push = |nodes: &mut Vec<Node>, n: Node, out: &[usize]| {
                nodes.push(n);
                node_layers.push(label.clone());
                act_len.push(out.iter().product());
            };
            let activation_node = |a: &Activation, last: bool| -> Result<Option<Node>> {
                match a {
                    Activation::Linear => Ok(None),
                    Activation::Relu => Ok(Some(Node::Relu)),
                    Activation::Softmax if last => Ok(Some(Node::Identity)),
                    Activation::Softmax => Err(at(
                        "softmax is supported only as the final activation".into(),
                    )),
                }
            };
            let last = i + 1 == layers.len();
            match layer {
                Layer::Conv2D {
                    filters,
                    kernel,
                    strides,
                    padding,
                    activation,
                } => {
                    if shape.len() != 3 {
                        return Err(at(
                            "Conv2D needs an image input (it comes after Flatten or Dense)".into(),
                        ));
                    }
                    let s = Conv2dShape::new(
                        max_batch,
                        shape[0],
                        shape[1],
                        shape[2],
                        *filters,
                        *kernel,
                        *strides,
                        *padding == Padding::Same,
                    )
                    .map_err(|e| at(e.to_string()))?;
                    let (fan_in, fan_out) = (
                        kernel[0] * kernel[1] * shape[2],
                        kernel[0] * kernel[1] * filters,
                    );
                    params.push(ParamSpec {
                        name: format!("{name}.kernel"),
                        shape: vec![kernel[0], kernel[1], shape[2], *filters],
                        init: Init::Glorot { fan_in, fan_out },
                    });
                    params.push(ParamSpec {
                        name: format!("{name}.bias"),
                        shape: vec![*filters],
                        init: Init::Zeros,
                    });
                    let relu = *activation == Activation::Relu;
                    shape = vec![s.oh, s.ow, *filters];
                    push(
                        &mut nodes,
                        Node::Conv {
                            s,
                            relu,
                            w: params.len() - 2,
                            b: params.len() - 1,
                        },
                        &shape,
                    );
                    if !relu {
                        if let Some(n) = activation_node(activation, last)? {
                            push(&mut nodes, n, &shape);
                        }
                    }
                    ends_in_softmax = *activation == Activation::Softmax;
                }
                Layer::MaxPool2D {
                    pool,
                    strides,
                    padding,
                } => {
                    if shape.len() != 3 {
                        return Err(at("MaxPooling2D needs an image input".into()));
                    }
                    if *padding != Padding::Valid {
                        return Err(at("MaxPooling2D supports valid padding only".into()));
                    }
                    let s =
                        PoolShape::new(max_batch, shape[0], shape[1], shape[2], *pool, *strides)
                            .map_err(|e| at(e.to_string()))?;
                    shape = vec![s.oh, s.ow, shape[2]];
                    push(&mut nodes, Node::Pool { s }, &shape);
                }
                Layer::Flatten => {
                    // NHWC is already flat in memory, in Keras' flatten order.
                    shape = vec![elements(&shape, "the flattened input").map_err(at)?];
                    push(&mut nodes, Node::Identity, &shape);
                }
                Layer::Dense { units, activation } => {
                    if shape.len() != 1 {
                        return Err(at(
                            "Dense needs a flat input: add a Flatten layer before it".into(),
                        ));
                    }
                    if *units == 0 {
                        return Err(at("units must be at least 1".into()));
                    }
                    let inputs = shape[0];
                    let g = crate::ops::gemm::GemmShape::dense(max_batch, inputs, *units);
                    for (what, dims) in [
                        ("the kernel", [inputs, *units]),
                        ("the output", [max_batch, *units]),
                        ("the input", [max_batch, inputs]),
                    ] {
                        elements(&dims, what).map_err(at)?;
                    }
                    g.forward.validate().map_err(|e| at(e.to_string()))?;
                    params.push(ParamSpec {
                        name: format!("{name}.kernel"),
                        shape: vec![inputs, *units],
                        init: Init::Glorot {
                            fan_in: inputs,
                            fan_out: *units,
                        },
                    });
                    params.push(ParamSpec {
                        name: format!("{name}.bias"),
                        shape: vec![*units],
                        init: Init::Zeros,
                    });
                    let relu = *activation == Activation::Relu;
                    shape = vec![*units];
                    let (w, b) = (params.len() - 2, params.len() - 1);
                    push(
                        &mut nodes,
                        Node::Dense {
                            inputs,
                            units: *units,
                            relu,
                            w,
                            b,
                        },
                        &shape,
                    );
                    if !relu {
                        if let Some(n) = activation_node(activation, last)? {
                            push(&mut nodes, n, &shape);
                        }
                    }
                    ends_in_softmax = *activation == Activation::Softmax;
                }
                Layer::Dropout { rate } => {
                    if !(0.0..1.0).contains(rate) {
                        return Err(at(format!("dropout rate {rate} is outside [0, 1)")));
                    }
                    let id = nodes.len() as u32;
                    push(&mut nodes, Node::Dropout { rate: *rate, id }, &shape);
                }
                Layer::BatchNorm { momentum, epsilon } => {
                    let c = *shape.last().unwrap_or(&1);
                    let rows_per_sample = shape.iter().product::<usize>() / c.max(1);
                    let s = BnShape {
                        rows_per_sample,
                        max_batch,
                        c,
                        momentum: *momentum,
                        eps: *epsilon,
                    };
                    s.validate().map_err(|e| at(e.to_string()))?;
                    for (p, init) in [("gamma", Init::Ones), ("beta", Init::Zeros)] {
                        params.push(ParamSpec {
                            name: format!("{name}.{p}"),
                            shape: vec![c],
                            init,
                        });
                    }
                    for (p, init) in [
                        ("moving_mean", Init::Zeros),
                        ("moving_variance", Init::Ones),
                    ] {
                        stats.push(ParamSpec {
                            name: format!("{name}.{p}"),
                            shape: vec![c],
                            init,
                        });
                    }
                    let n = Node::BatchNorm {
                        s,
                        gamma: params.len() - 2,
                        beta: params.len() - 1,
                        mean: stats.len() - 2,
                        var: stats.len() - 1,
                    };
                    push(&mut nodes, n, &shape);
                }
                Layer::Activation(a) => {
                    match activation_node(a, last)? {
                        Some(n) => push(&mut nodes, n, &shape),
                        None => push(&mut nodes, Node::Identity, &shape),
                    }
                    ends_in_softmax = *a == Activation::Softmax;
                }
            }
        }
        if !ends_in_softmax || shape.len() != 1 || shape[0] < 2 {
            return Err(Error::Model(
                "the last layer must be a softmax over at least 2 classes (Dense(units, activation=softmax))".into(),
            ));
        }
        // Every activation, for the whole batch, must fit the kernels' 32-bit indexing.
        for (k, &len) in act_len.iter().enumerate() {
            let what = match k {
                0 => "the input batch".to_string(),
                _ => format!("{}: the output batch", node_layers[k - 1]),
            };
            elements(&[max_batch, len], &what).map_err(Error::Model)?;
        }
        Ok(Self {
            classes: shape[0],
            nodes,
            act_len,
            params,
            stats,
            max_batch,
            node_layers,
            input,
        })
    }

    pub fn input_len(&self) -> usize {
        self.act_len[0]
    }

    /// A data set must hold images of the model's input size and labels below its class count.
    pub fn check_data(&self, data: &super::HostData<'_>) -> Result<()> {
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
