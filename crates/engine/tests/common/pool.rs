//! Pooling test support: inputs without ties, and one max-pooling round trip on the GPU.

use super::gpu;
use wgnn_engine::ops::pool::{self, PoolShape};
use wgnn_engine::util::rng::Rng;

/// Distinct values (a shuffled ramp spaced by 0.05), so no window has a tie and finite
/// differences with FD_EPS = 0.01 never change which element is the maximum.
pub fn distinct(seed: u64, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.05).collect();
    Rng::new(seed).shuffle(&mut v);
    v
}

/// Max pooling forward and backward on the GPU: `(y, argmax, dx)`. `dx` starts as NaN so that a
/// missed element cannot pass. None (the test skipped) on a machine with no adapter.
pub fn max_on_gpu(s: &PoolShape, x: &[f32], dy: &[f32]) -> Option<(Vec<f32>, Vec<u32>, Vec<f32>)> {
    let ctx = gpu()?;
    let gx = ctx.tensor(x, "x").unwrap();
    let gy = ctx.alloc(s.y_len(), "y").unwrap();
    let garg = ctx.alloc(s.y_len(), "argmax").unwrap();
    let gdy = ctx.tensor(dy, "dy").unwrap();
    let gdx = ctx.tensor(&vec![f32::NAN; s.x_len()], "dx").unwrap();
    let f = pool::forward(ctx, s, &gx, &gy, &garg).unwrap();
    let b = pool::backward(ctx, s, &gdy, &garg, &gdx).unwrap();
    ctx.run(&[&f, &b]).unwrap();
    Some((
        ctx.read_f32(&gy).unwrap(),
        ctx.read_u32(&garg).unwrap(),
        ctx.read_f32(&gdx).unwrap(),
    ))
}
