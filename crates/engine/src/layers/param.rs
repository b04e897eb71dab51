//! A layer's parameter tensors, as the graphs allocate and initialise them.

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

/// Keras' initialisers of the tensors wgnn's layers have.
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
