//! Sizes are checked before anything is allocated: a plan whose tensors overflow the kernels'
//! 32-bit indices, or whose buffers do not fit the device, is an error naming the layer, the
//! tensor, the bytes and the limit, on either backend.

mod common;
use common::gpu;

use wgnn::graph::{Limits, Plan};
use wgnn::layers::{Conv2D, Dense, Dropout};
use wgnn::model::{Activation, Layer, Padding};
use wgnn::ops::conv2d::Conv2dShape;
use wgnn::ops::pool::PoolShape;

fn dense(units: usize, activation: Activation) -> Layer {
    Layer::Dense(Dense { units, activation })
}

fn small() -> Vec<Layer> {
    vec![Layer::flatten(), dense(3, Activation::Softmax)]
}

fn cpu_limits(max_buffer: u64, total: u64) -> Limits {
    Limits {
        max_buffer,
        total: Some(total),
        ..Limits::host()
    }
}

#[test]
fn the_estimate_counts_every_large_buffer() {
    // [4,4,1] -> flatten -> dense(3, softmax), batch 2, on the CPU backend (Adam's 2 states):
    // kernel 16x3 and bias 3, 4 copies each = 816 bytes; input, flatten and dense outputs with
    // their gradients = 2 x (128 + 128 + 24) = 560; probabilities 24.
    let plan = Plan::new([4, 4, 1], &small(), 2).unwrap();
    let items = plan.memory_estimate(&Limits::host());
    let total: u64 = items.iter().map(|t| t.bytes * t.count).sum();
    assert_eq!(total, 816 + 560 + 24, "{items:#?}");
    assert!(items.iter().any(|t| t.what.contains("layer 2 (dense)")));
    plan.check_fits(&Limits::host()).unwrap();
    // The GPU keeps the parameters in one arena.
    let Some(ctx) = gpu() else { return };
    let g = plan.memory_estimate(&Limits::gpu(ctx, 2));
    assert_eq!(g[0].bytes, 4 * (48 + 3), "{g:#?}");
    assert_eq!(g[0].count, 4);
    plan.check_fits(&Limits::gpu(ctx, 2)).unwrap();
}

#[test]
fn a_buffer_over_the_limit_names_the_tensor_bytes_and_limit() {
    let plan = Plan::new([4, 4, 1], &small(), 2).unwrap();
    let e = plan
        .check_fits(&cpu_limits(100, 1 << 30))
        .unwrap_err()
        .to_string();
    assert!(e.contains("parameter `dense.kernel` (16x3)"), "{e}");
    assert!(e.contains("needs 192 bytes in one buffer"), "{e}");
    assert!(e.contains("100 bytes"), "{e}");
    let e = plan
        .check_fits(&cpu_limits(1 << 30, 1000))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs about 1.4 KiB (1400 bytes) in all"), "{e}");
    assert!(e.contains("1000 bytes"), "{e}");
    assert!(e.contains("a smaller batch size"), "{e}");
}

#[test]
fn sizes_past_32_bit_indices_name_the_layer() {
    let e = Plan::new(
        [28, 28, 1],
        &[Layer::flatten(), dense(1_000_000_000, Activation::Softmax)],
        32,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("layer 2 (dense): the kernel (784x1000000000) has 784000000000 elements"),
        "{e}"
    );
    assert!(e.contains("2.9 TiB"), "{e}");
    // A huge batch through a convolution.
    let conv = Layer::Conv2D(Conv2D {
        filters: 8,
        kernel: [3, 3],
        strides: [1, 1],
        padding: Padding::Same,
        activation: Activation::Relu,
    });
    let layers = vec![conv, Layer::flatten(), dense(10, Activation::Softmax)];
    let e = Plan::new([28, 28, 1], &layers, 1_000_000_000)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer 1 (conv2d)"), "{e}");
    assert!(
        e.contains("the input of 1000000000x28x28x1 = 784000000000 elements"),
        "{e}"
    );
    // A huge batch through layers without shape constructors (dropout first).
    let layers = vec![
        Layer::Dropout(Dropout { rate: 0.5 }),
        Layer::flatten(),
        Layer::Activation(Activation::Softmax),
    ];
    let e = Plan::new([28, 28, 1], &layers, 1 << 40)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the input batch"), "{e}");
    // Dimensions whose product overflows 64 bits.
    let e = Plan::new([usize::MAX, usize::MAX, 1], &small(), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than 2^64 elements"), "{e}");
}

#[test]
fn shape_errors_are_words_not_debug_structs() {
    let e = Conv2dShape::new(1_000_000_000, 28, 28, 1, 32, [3, 3], [1, 1], false)
        .unwrap_err()
        .to_string();
    assert!(!e.contains("Conv2dShape {"), "{e}");
    assert!(e.contains("1000000000x28x28x1"), "{e}");
    // Sizes whose usize product would overflow: an error, not an overflow panic.
    let huge = usize::MAX / 2;
    assert!(Conv2dShape::new(huge, huge, huge, huge, huge, [1, 1], [1, 1], true).is_err());
    assert!(Conv2dShape::new(1, huge, 1, 1, 1, [huge, 1], [1, 1], true).is_err());
    let e = PoolShape::new(huge, huge, huge, huge, [1, 1], [1, 1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("too large for 32-bit indexing"), "{e}");
}

#[test]
fn gpu_buffers_are_checked_before_wgpu_sees_them() {
    let Some(ctx) = gpu() else { return };
    for len in [usize::MAX, usize::MAX / 4, 1 << 40] {
        let e = ctx.alloc(len, "huge").unwrap_err().to_string();
        assert!(e.contains("GPU buffer `huge` needs"), "{e}");
        assert!(e.contains("more than this device allows"), "{e}");
    }
    let e = ctx
        .alloc_arena(&[usize::MAX / 2, usize::MAX / 2, 8], "arena")
        .unwrap_err()
        .to_string();
    assert!(e.contains("GPU buffer `arena`"), "{e}");
    // The context still works afterwards.
    let t = ctx.tensor(&[1.0f32, 2.0], "ok").unwrap();
    assert_eq!(ctx.read_f32(&t).unwrap(), vec![1.0, 2.0]);
}

#[test]
fn labels_outside_the_classes_name_file_index_and_value() {
    use std::path::Path;
    use wgnn::data::check_labels;
    let path = Path::new("dir/train-labels-idx1-ubyte");
    check_labels(&[0, 1, 2], 3, path).unwrap();
    let e = check_labels(&[0, 1, 9, 2], 3, path)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "dir/train-labels-idx1-ubyte: label 9 at index 2 is outside the model's 3 classes (0..=2)"
    );
}
