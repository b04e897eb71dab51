//! Keras initialisation from a seed: Glorot-uniform kernels, zero biases, BN gamma 1 / beta 0,
//! moving mean 0 / variance 1.

use super::plan::{Init, ParamSpec};
use crate::util::rng::Rng;

pub fn init_params(specs: &[ParamSpec], seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    specs
        .iter()
        .map(|p| match p.init {
            Init::Glorot { fan_in, fan_out } => {
                let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
                rng.vec(p.len(), -limit, limit)
            }
            Init::Zeros => vec![0.0; p.len()],
            Init::Ones => vec![1.0; p.len()],
        })
        .collect()
}
