//! Convolution kernels against the CPU reference over many shapes (valid and same padding, stride
//! 2, 1x1, non-square, channels 1/3, filters not a multiple of the 64-wide tile); the reference
//! backward passes against finite differences; bad shapes give errors.

mod common;
use common::*;
use wgnn_engine::ops::conv2d::{self as conv, Conv2dShape};
use wgnn_engine::ops::elementwise::Act;
use wgnn_engine::ops::Threads;

type Case = ConvCase;

fn shape(c: Case) -> Conv2dShape {
    Conv2dShape::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7).unwrap()
}

/// Runs forward (with and without ReLU), backward_input and backward_weights on the GPU and
/// compares each with the reference: both kernel families, the gradients' work spread both ways
/// (few long invocations, or many short ones with their splits summed after).
fn check_case(c: Case, seed: u64) {
    for v in [conv::Variant::Tiled, conv::Variant::Blocked] {
        for threads in [Threads::Few, Threads::Many] {
            check_case_with((v, threads), c, seed);
        }
    }
}

fn check_case_with((v, threads): (conv::Variant, Threads), c: Case, seed: u64) {
    let Some(ctx) = gpu() else { return };
    let s = shape(c);
    let name = format!("{} {v:?} {threads:?}", conv::case_label(&s, c.7));
    let x = rand_vec(seed, s.x_len());
    let w = rand_vec(seed + 1, s.w_len());
    let b = rand_vec(seed + 2, s.cout);
    let dy = rand_vec(seed + 3, s.y_len());

    let gx = ctx.tensor(&x, "x").unwrap();
    let gw = ctx.tensor(&w, "w").unwrap();
    let gb = ctx.tensor(&b, "b").unwrap();
    let gdy = ctx.tensor(&dy, "dy").unwrap();
    let gy = ctx.alloc(s.y_len(), "y").unwrap();
    let gy_relu = ctx.alloc(s.y_len(), "y relu").unwrap();
    // dx, dw and db start as NaN so that a missed element cannot pass.
    let gdx = ctx.tensor(&vec![f32::NAN; s.x_len()], "dx").unwrap();
    let gdw = ctx.tensor(&vec![f32::NAN; s.w_len()], "dw").unwrap();
    let gdb = ctx.tensor(&vec![f32::NAN; s.cout], "db").unwrap();

    let (ins, vt) = ([&gx, &gw, &gb], (v, threads));
    let f = conv::forward_by(ctx, vt, &s, ins, &gy, Act::Linear).unwrap();
    let fr = conv::forward_by(ctx, vt, &s, ins, &gy_relu, Act::Relu).unwrap();
    let bi = conv::backward_input_by(ctx, (v, threads), &s, [&gw, &gdy], &gdx).unwrap();
    let bw = conv::backward_weights_by(ctx, (v, threads), &s, [&gx, &gdy], [&gdw, &gdb]).unwrap();
    let all: Vec<_> = f.iter().chain(&fr).chain(&bi).chain(&bw).collect();
    ctx.run(&all).unwrap();

    let y = conv::forward_ref(&s, &x, &w, &b, false);
    assert_close(
        &format!("conv forward {name}"),
        &ctx.read_f32(&gy).unwrap(),
        &y,
    );
    let y_relu: Vec<f32> = y.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(conv::forward_ref(&s, &x, &w, &b, true), y_relu);
    assert_close(
        &format!("conv forward+relu {name}"),
        &ctx.read_f32(&gy_relu).unwrap(),
        &y_relu,
    );
    let dx = conv::backward_input_ref(&s, &w, &dy);
    assert_close(
        &format!("conv backward_input {name}"),
        &ctx.read_f32(&gdx).unwrap(),
        &dx,
    );
    let (dw, db) = conv::backward_weights_ref(&s, &x, &dy);
    assert_close(
        &format!("conv backward dw {name}"),
        &ctx.read_f32(&gdw).unwrap(),
        &dw,
    );
    assert_close(
        &format!("conv backward db {name}"),
        &ctx.read_f32(&gdb).unwrap(),
        &db,
    );
}

#[test]
fn first_layer_28x28x1_to_32_filters_batch_4() {
    check_case((4, 28, 28, 1, 32, [3, 3], [1, 1], false), 10);
}

#[test]
fn valid_padding_small_channels_and_odd_filter_counts() {
    check_case((1, 7, 9, 1, 1, [3, 3], [1, 1], false), 20);
    check_case((1, 8, 8, 3, 5, [3, 3], [1, 1], false), 21);
    check_case((2, 11, 10, 3, 70, [3, 3], [1, 1], false), 22);
    check_case((3, 12, 13, 17, 65, [3, 3], [1, 1], false), 23);
}

#[test]
fn channels_multiple_of_4_vec4_paths() {
    // cin % 4 == 0 and cout % 4 == 0: the CPU variant's vec4 kernels, with a channel-group tail
    // (cout 12 = 8 + 4), pixel counts not a multiple of 4, same padding and strides.
    check_case((2, 7, 6, 8, 12, [3, 3], [1, 1], true), 70);
    check_case((2, 9, 8, 4, 8, [3, 3], [2, 2], true), 71);
    check_case((1, 5, 5, 4, 4, [1, 1], [1, 1], false), 72);
    check_case((3, 10, 9, 12, 20, [2, 3], [2, 1], false), 73);
    check_case((2, 6, 7, 16, 4, [5, 5], [1, 2], true), 74);
}

#[test]
fn channels_not_multiple_of_4_scalar_x_paths() {
    // cin % 4 != 0 with cout % 4 == 0: the CPU variant's scalar-x forward and its 9-rows-per-
    // invocation weight gradient (row groups straddling taps, a clamped last group, a
    // channel-group tail, reductions split over several chunks).
    check_case((3, 9, 8, 1, 12, [5, 5], [2, 1], true), 90);
    check_case((2, 10, 7, 2, 20, [3, 3], [1, 1], false), 91);
    check_case((2, 8, 9, 5, 4, [2, 3], [1, 2], true), 92);
    check_case((6, 24, 23, 1, 8, [3, 3], [1, 1], true), 93);
}

#[test]
fn stride_2() {
    check_case((2, 13, 12, 3, 7, [3, 3], [2, 2], false), 30);
    check_case((1, 10, 11, 4, 9, [2, 2], [2, 2], false), 31);
    check_case((2, 9, 9, 5, 6, [3, 3], [2, 1], false), 32);
}

#[test]
fn same_padding_even_and_odd_kernels() {
    check_case((2, 9, 8, 3, 10, [3, 3], [1, 1], true), 40);
    check_case((2, 9, 8, 3, 10, [2, 2], [1, 1], true), 41);
    check_case((2, 11, 10, 2, 6, [5, 5], [2, 2], true), 42);
    check_case((1, 6, 7, 3, 4, [4, 4], [2, 2], true), 43);
    // Kernel larger than the input is fine with same padding.
    check_case((1, 3, 2, 2, 3, [5, 5], [1, 1], true), 44);
}

#[test]
fn one_by_one_and_non_square_kernels() {
    check_case((2, 6, 5, 33, 19, [1, 1], [1, 1], false), 50);
    check_case((2, 9, 7, 3, 8, [3, 2], [1, 1], false), 51);
    check_case((2, 9, 7, 3, 8, [3, 2], [2, 1], true), 52);
}

#[test]
fn second_layer_size_with_split_reduction() {
    // 16*11*11 = 1936 output positions: backward_weights splits its reduction; 288 x 64 weights.
    let s = shape((16, 13, 13, 32, 64, [3, 3], [1, 1], false));
    for reduce in [Threads::Few, Threads::Many] {
        assert!(conv::weight_grad_splits(&s, reduce).unwrap().1 > 1);
    }
    check_case((16, 13, 13, 32, 64, [3, 3], [1, 1], false), 60);
}

#[test]
fn backward_weights_is_deterministic_and_overwrites() {
    let Some(ctx) = gpu() else { return };
    let s = shape((8, 12, 12, 3, 20, [3, 3], [1, 1], true));
    let x = rand_vec(70, s.x_len());
    let dy = rand_vec(71, s.y_len());
    let gx = ctx.tensor(&x, "x").unwrap();
    let gdy = ctx.tensor(&dy, "dy").unwrap();
    let gdw = ctx.tensor(&vec![5.0f32; s.w_len()], "dw").unwrap();
    let gdb = ctx.tensor(&vec![5.0f32; s.cout], "db").unwrap();
    let bw = conv::backward_weights(ctx, &s, &gx, &gdy, &gdw, &gdb).unwrap();
    ctx.run(&bw.iter().collect::<Vec<_>>()).unwrap();
    let first = (ctx.read_f32(&gdw).unwrap(), ctx.read_f32(&gdb).unwrap());
    // Replaying the same dispatches overwrites (does not accumulate) and gives the same bits.
    ctx.run(&bw.iter().collect::<Vec<_>>()).unwrap();
    let second = (ctx.read_f32(&gdw).unwrap(), ctx.read_f32(&gdb).unwrap());
    assert_eq!(first, second);
    let (dw, db) = conv::backward_weights_ref(&s, &x, &dy);
    assert_close("conv dw after replay", &second.0, &dw);
    assert_close("conv db after replay", &second.1, &db);
}

#[test]
fn same_padding_geometry_matches_tensorflow() {
    // 28, k3, s1: pad 1 top, 1 bottom. 28, k2, s1: pad 0 top, 1 bottom.
    let s = shape((1, 28, 28, 1, 1, [3, 2], [1, 1], true));
    assert_eq!((s.oh, s.ow, s.pad_top, s.pad_left), (28, 28, 1, 0));
    // 11, k5, s2: out 6, pad_total = 5*2 + 5 - 11 = 4 -> 2 top.
    let s = shape((1, 11, 10, 1, 1, [5, 5], [2, 2], true));
    assert_eq!((s.oh, s.ow, s.pad_top, s.pad_left), (6, 5, 2, 1));
    // 10, k1, s3: out 4, pad_total = max(3*3 + 1 - 10, 0) = 0.
    let s = shape((1, 10, 10, 1, 1, [1, 1], [3, 3], true));
    assert_eq!((s.oh, s.pad_top), (4, 0));
    let s = shape((1, 28, 27, 1, 1, [3, 3], [2, 2], false));
    assert_eq!((s.oh, s.ow), (13, 13));
}

/// Finite-difference checks of the reference backward passes, loss = dot(conv(x, w, b), g).
fn fd_case(c: Case, seed: u64) {
    let s = shape(c);
    let name = conv::case_label(&s, c.7);
    let x = rand_vec(seed, s.x_len());
    let w = rand_vec(seed + 1, s.w_len());
    let b = rand_vec(seed + 2, s.cout);
    let g = rand_vec(seed + 3, s.y_len());
    let dx = conv::backward_input_ref(&s, &w, &g);
    check_grad(&format!("conv dx {name}"), &x, &dx, |x| {
        dot(&conv::forward_ref(&s, x, &w, &b, false), &g)
    });
    let (dw, db) = conv::backward_weights_ref(&s, &x, &g);
    check_grad(&format!("conv dw {name}"), &w, &dw, |w| {
        dot(&conv::forward_ref(&s, &x, w, &b, false), &g)
    });
    check_grad(&format!("conv db {name}"), &b, &db, |b| {
        dot(&conv::forward_ref(&s, &x, &w, b, false), &g)
    });
}

#[test]
fn reference_backward_matches_finite_differences() {
    fd_case((2, 6, 5, 2, 3, [3, 3], [1, 1], false), 80);
    fd_case((2, 6, 5, 2, 3, [3, 3], [1, 1], true), 81);
    fd_case((1, 7, 6, 3, 2, [2, 2], [1, 1], true), 82);
    fd_case((2, 7, 8, 2, 3, [3, 3], [2, 2], false), 83);
    fd_case((1, 9, 7, 2, 2, [5, 5], [2, 2], true), 84);
    fd_case((1, 6, 6, 2, 3, [3, 2], [2, 1], true), 85);
}

#[test]
fn bad_shapes_are_errors() {
    let new = Conv2dShape::new;
    assert!(new(0, 28, 28, 1, 32, [3, 3], [1, 1], false).is_err());
    assert!(new(1, 28, 28, 0, 32, [3, 3], [1, 1], false).is_err());
    assert!(new(1, 28, 28, 1, 0, [3, 3], [1, 1], false).is_err());
    assert!(new(1, 28, 28, 1, 32, [0, 3], [1, 1], false).is_err());
    assert!(new(1, 28, 28, 1, 32, [3, 3], [1, 0], false).is_err());
    assert!(new(1, 2, 28, 1, 32, [3, 3], [1, 1], false).is_err());
    assert!(new(1, 28, 2, 1, 32, [3, 3], [1, 1], false).is_err());
    assert!(new(1 << 20, 1 << 10, 1 << 10, 4, 4, [1, 1], [1, 1], false).is_err());
    let e = new(1, 2, 28, 1, 32, [3, 3], [1, 1], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("kernel height 3"), "{e}");

    // Tensors whose length does not match the shape.
    let Some(ctx) = gpu() else { return };
    let s = shape((1, 5, 5, 2, 3, [3, 3], [1, 1], false));
    let x = ctx.alloc(s.x_len(), "x").unwrap();
    let w = ctx.alloc(s.w_len(), "w").unwrap();
    let b = ctx.alloc(s.cout, "b").unwrap();
    let y = ctx.alloc(s.y_len(), "y").unwrap();
    let short = ctx.alloc(s.y_len() - 1, "short").unwrap();
    assert!(conv::forward(ctx, &s, &x, &w, &b, &short, false).is_err());
    assert!(conv::forward(ctx, &s, &y, &w, &b, &y, false).is_err());
    assert!(conv::forward(ctx, &s, &x, &w, &x, &y, false).is_err());
    assert!(conv::backward_input(ctx, &s, &w, &short, &x).is_err());
    assert!(conv::backward_weights(ctx, &s, &x, &y, &w, &short).is_err());
    assert!(conv::forward(ctx, &s, &x, &w, &b, &y, false).is_ok());
}
