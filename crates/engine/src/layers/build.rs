//! Compiling one layer: what it is given (its input shape, the batch, its name) and what it
//! declares (parameters, statistics, its op and output shape).

use std::sync::Arc;

use super::activation::Activation;
use super::op::{Node, Op};
use super::param::{Init, ParamSpec};
use super::Res;

/// What a layer's `build` sees and fills in.
pub struct Build<'a> {
    /// Input shape without the batch axis: `[H, W, C]` for images, `[N]` when flat.
    pub input: &'a [usize],
    /// The most samples one step holds; op shapes are compiled for it.
    pub max_batch: usize,
    /// Whether this is the model's last layer.
    pub last: bool,
    /// The layer's Keras name ("conv2d_1"), which prefixes its tensors' names.
    pub name: &'a str,
    /// The layer's position in the model, from 0 (it seeds dropout streams).
    pub index: usize,
    pub(crate) params: &'a mut Vec<ParamSpec>,
    pub(crate) stats: &'a mut Vec<ParamSpec>,
}

/// A compiled layer: its output shape (without the batch axis) and its op.
pub struct Built {
    pub output: Vec<usize>,
    pub node: Node,
}

impl Built {
    pub fn new(output: Vec<usize>, op: impl Op) -> Self {
        Built {
            output,
            node: Node(Arc::new(op)),
        }
    }
}

/// `(None, 28, 28, 1)`: a shape as Keras prints it.
pub fn shape_str(shape: &[usize]) -> String {
    let mut s = String::from("(None");
    for d in shape {
        s.push_str(&format!(", {d}"));
    }
    s.push(')');
    s
}

/// `a * b`, or a message saying what overflowed.
pub fn mul(a: usize, b: usize, what: &str) -> Res<usize> {
    a.checked_mul(b)
        .ok_or_else(|| format!("{what} overflows (the layer is absurdly large)"))
}

impl Build<'_> {
    /// Declares a trainable tensor `<name>.<suffix>`; returns its index among the parameters.
    pub fn param(&mut self, suffix: &str, shape: Vec<usize>, init: Init) -> usize {
        self.params.push(ParamSpec {
            name: format!("{}.{suffix}", self.name),
            shape,
            init,
        });
        self.params.len() - 1
    }

    /// Declares a non-trainable tensor (BN's moving statistics); returns its index among them.
    pub fn stat(&mut self, suffix: &str, shape: Vec<usize>, init: Init) -> usize {
        self.stats.push(ParamSpec {
            name: format!("{}.{suffix}", self.name),
            shape,
            init,
        });
        self.stats.len() - 1
    }

    /// The input as an image `[H, W, C]`, or a message saying `class` needs one.
    pub fn image(&self, class: &str) -> Res<[usize; 3]> {
        match self.input {
            [h, w, c] => Ok([*h, *w, *c]),
            other => Err(format!(
                "{class} needs an image input (H, W, C) but gets {}{}",
                shape_str(other),
                if other.len() == 1 {
                    "; it cannot follow Flatten or Dense"
                } else {
                    ""
                }
            )),
        }
    }

    /// A layer's activation is valid here: softmax only at the end, a usable alpha.
    pub fn check_activation(&self, a: Activation) -> Res<()> {
        a.check(self.last)
    }
}

/// Most elements in one tensor: the kernels index every buffer with u32.
pub const MAX_ELEMENTS: u64 = u32::MAX as u64;

/// The product of `dims` when it fits 32-bit indexing, else a message naming `what`.
pub fn elements(dims: &[usize], what: &str) -> Res<usize> {
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

/// `dims` joined as "128x28x28x1".
pub fn dims_str(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}
