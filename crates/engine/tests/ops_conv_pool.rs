//! A convolution and the max pooling after it, fused on the GPU (`layers::ConvMaxPool`): the
//! pooling of the convolution's split slabs and the pooling's backward pass with the activation's
//! gradient give the same bits as the ops unfused (the convolution's reduce, the pooling, the
//! pooling's scatter, the activation's backward pass), on the adapter the tests run on.

mod common;
use common::pool::distinct;
use common::*;
use wgnn_engine::ops::conv2d::{self, Conv2dShape};
use wgnn_engine::ops::elementwise::{self, Act};
use wgnn_engine::ops::pool::{self, ConvSlabs, PoolShape};
use wgnn_engine::ops::{Threads, Variant};
use wgnn_engine::runtime::{GpuContext, GpuTensor};

/// What one way of running the pair gives: the pooled output, its argmax, the gradient before
/// the convolution's activation.
type Bits = (Vec<u32>, Vec<u32>, Vec<u32>);

struct Case {
    conv: Conv2dShape,
    pool: PoolShape,
    x: GpuTensor,
    w: GpuTensor,
    b: GpuTensor,
    dy: GpuTensor,
}

fn case(
    ctx: &GpuContext,
    (n, h, cin, cout, k): (usize, usize, usize, usize, usize),
    window: [usize; 2],
    seed: u64,
) -> Case {
    let conv = Conv2dShape::new(n, h, h, cin, cout, [k, k], [1, 1], false).unwrap();
    let pool = PoolShape::new(n, conv.oh, conv.ow, cout, window, [2, 2]).unwrap();
    let t = |v: Vec<f32>, name: &str| ctx.tensor(&v, name).unwrap();
    Case {
        x: t(distinct(seed, conv.x_len()), "x"),
        w: t(rand_vec(seed + 1, conv.w_len()), "w"),
        b: t(rand_vec(seed + 2, cout), "b"),
        dy: t(rand_vec(seed + 3, pool.y_len()), "dy"),
        conv,
        pool,
    }
}

fn bits(ctx: &GpuContext, [y, arg, g]: [&GpuTensor; 3]) -> Bits {
    let f = |t: &GpuTensor| {
        ctx.read_f32(t)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    (f(y), ctx.read_u32(arg).unwrap(), f(g))
}

/// The two ops unfused: the convolution's output written and read back by the pooling, the
/// pooling's scatter, then the activation's backward pass.
fn unfused(ctx: &GpuContext, c: &Case, act: Act) -> Bits {
    let spread = (Variant::Blocked, Threads::Many);
    let [conv_y, y, arg, dconv, g] = [
        c.conv.y_len(),
        c.pool.y_len(),
        c.pool.y_len(),
        c.conv.y_len(),
        c.conv.y_len(),
    ]
    .map(|n| ctx.alloc(n, "t").unwrap());
    let mut d = conv2d::forward_by(ctx, spread, &c.conv, [&c.x, &c.w, &c.b], &conv_y, act).unwrap();
    d.push(pool::forward(ctx, &c.pool, &conv_y, &y, &arg).unwrap());
    d.push(pool::backward(ctx, &c.pool, &c.dy, &arg, &dconv).unwrap());
    d.push(elementwise::act_backward(ctx, act, &conv_y, &dconv, &g).unwrap());
    ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
    bits(ctx, [&y, &arg, &g])
}

/// The pair fused: the pooling reads the convolution's slabs, the scatter applies the gradient.
fn fused(ctx: &GpuContext, c: &Case, act: Act) -> Bits {
    let spread = (Variant::Blocked, Threads::Many);
    let (parts, slabs, splits) = conv2d::forward_parts_by(ctx, spread, &c.conv, [&c.x, &c.w, &c.b])
        .unwrap()
        .expect("the case's forward splits its taps");
    let [y, arg, g] =
        [c.pool.y_len(), c.pool.y_len(), c.conv.y_len()].map(|n| ctx.alloc(n, "t").unwrap());
    let conv = ConvSlabs {
        slabs: &slabs,
        splits,
        bias: &c.b,
        act,
    };
    let f = pool::forward_slabs(ctx, &c.pool, conv, &y, &arg).unwrap();
    let b = pool::backward_act(ctx, &c.pool, [&c.dy, &arg, &y], act, &g).unwrap();
    ctx.run(&[&parts, &f, &b]).unwrap();
    bits(ctx, [&y, &arg, &g])
}

#[test]
fn the_fused_pair_gives_the_bits_of_the_two_ops() {
    let Some(ctx) = gpu() else { return };
    // convnet's second convolution (at batch 2), and 16 channels under a 5x5 kernel with
    // overlapping 3x3 windows (an element under two windows sums two gradients).
    let cases = [((2, 13, 32, 64, 3), [2, 2]), ((2, 12, 16, 8, 5), [3, 3])];
    for (k, (dims, window)) in cases.into_iter().enumerate() {
        let c = case(ctx, dims, window, 40 + k as u64);
        for act in [Act::Relu, Act::LeakyRelu(0.1), Act::Tanh, Act::Elu(1.0)] {
            let (want, got) = (unfused(ctx, &c, act), fused(ctx, &c, act));
            let what = format!("{dims:?} pool {window:?} with {act:?}");
            assert!(got.0 == want.0, "{what}: the pooled output differs");
            assert!(got.1 == want.1, "{what}: the argmax differs");
            assert!(got.2 == want.2, "{what}: the gradient differs");
        }
    }
}

/// The first layer's pair in one dispatch against the two unfused: pooled output and argmax.
fn first_layer_bits(ctx: &GpuContext, c: &Case, act: Act) -> [(Vec<u32>, Vec<u32>); 2] {
    let [conv_y, y, arg, y2, arg2] = [
        c.conv.y_len(),
        c.pool.y_len(),
        c.pool.y_len(),
        c.pool.y_len(),
        c.pool.y_len(),
    ]
    .map(|n| ctx.alloc(n, "t").unwrap());
    let v = Variant::Blocked;
    let inputs = [&c.x, &c.w, &c.b];
    let mut d = conv2d::forward_with(ctx, v, &c.conv, &c.x, &c.w, &c.b, &conv_y, act).unwrap();
    d.push(pool::forward(ctx, &c.pool, &conv_y, &y, &arg).unwrap());
    let one = conv2d::forward_pool_by(ctx, v, &c.conv, inputs, &c.pool, act, [&y2, &arg2])
        .unwrap()
        .expect("the first layer's pair runs as one dispatch");
    d.push(one);
    ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
    let read = |y: &GpuTensor, a: &GpuTensor| {
        let y = ctx
            .read_f32(y)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        (y, ctx.read_u32(a).unwrap())
    };
    [read(&y, &arg), read(&y2, &arg2)]
}

#[test]
fn the_first_layer_and_its_pooling_in_one_dispatch_give_the_bits_of_the_two() {
    let Some(ctx) = gpu() else { return };
    // convnet's first layer; three channels with odd sizes (the last row and column unpooled).
    for (k, dims) in [(2, 28, 1, 32, 3), (2, 11, 3, 12, 3)]
        .into_iter()
        .enumerate()
    {
        let c = case(ctx, dims, [2, 2], 60 + k as u64);
        for act in [Act::Relu, Act::Tanh, Act::Linear] {
            let [want, got] = first_layer_bits(ctx, &c, act);
            assert!(
                got.0 == want.0,
                "{dims:?} with {act:?}: the pooled output differs"
            );
            assert!(got.1 == want.1, "{dims:?} with {act:?}: the argmax differs");
        }
    }
}

#[test]
fn only_the_first_layers_shape_and_a_2x2_pooling_run_as_one_dispatch() {
    let Some(ctx) = gpu() else { return };
    let c = case(ctx, (2, 13, 32, 64, 3), [2, 2], 70);
    let [y, arg] = [c.pool.y_len(), c.pool.y_len()].map(|n| ctx.alloc(n, "t").unwrap());
    let (inputs, out) = ([&c.x, &c.w, &c.b], [&y, &arg]);
    let v = Variant::Blocked;
    let four_channels = conv2d::forward_pool_by(ctx, v, &c.conv, inputs, &c.pool, Act::Relu, out);
    assert!(four_channels.unwrap().is_none());
    let c = case(ctx, (2, 28, 1, 32, 3), [3, 3], 71);
    let [y, arg] = [c.pool.y_len(), c.pool.y_len()].map(|n| ctx.alloc(n, "t").unwrap());
    let (inputs, out) = ([&c.x, &c.w, &c.b], [&y, &arg]);
    let window_3 = conv2d::forward_pool_by(ctx, v, &c.conv, inputs, &c.pool, Act::Relu, out);
    assert!(window_3.unwrap().is_none());
}

#[test]
fn a_forward_that_does_not_split_hands_no_slabs() {
    let Some(ctx) = gpu() else { return };
    // The first layer (one input channel) and the adapter's few threads never split.
    let c = case(ctx, (2, 28, 1, 32, 3), [2, 2], 50);
    let few = (Variant::Blocked, Threads::Few);
    let many = (Variant::Blocked, Threads::Many);
    let inputs = [&c.x, &c.w, &c.b];
    assert!(conv2d::forward_parts_by(ctx, many, &c.conv, inputs)
        .unwrap()
        .is_none());
    let c = case(ctx, (2, 13, 32, 64, 3), [2, 2], 51);
    let inputs = [&c.x, &c.w, &c.b];
    assert!(conv2d::forward_parts_by(ctx, few, &c.conv, inputs)
        .unwrap()
        .is_none());
}
