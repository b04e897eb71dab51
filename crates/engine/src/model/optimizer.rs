//! The optimizers a run chooses among by name (model files, run files, the command line), each
//! with Keras' default hyperparameters; the update kernels and their hyperparameters as the
//! kernels take them are `ops::optim`.

use serde::{Deserialize, Serialize};

use crate::ops::optim::Optimizer;
use crate::util::text::Named;

/// An optimizer by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    Rmsprop,
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 3] = [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::Rmsprop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Rmsprop => "rmsprop",
        }
    }
}

impl Named for OptimizerKind {
    const ALL: &'static [Self] = &[Self::Sgd, Self::Adam, Self::Rmsprop];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

crate::util::text::display_from_str!(
    OptimizerKind,
    "optimizer",
    [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::Rmsprop
    ]
);

impl OptimizerKind {
    /// This kind with Keras' default hyperparameters (the learning rate comes from the schedule).
    pub fn optimizer(self) -> Optimizer {
        use OptimizerKind as K;
        match self {
            K::Sgd => Optimizer::sgd(),
            K::Adam => Optimizer::adam(),
            K::Rmsprop => Optimizer::rmsprop(),
        }
    }
}
