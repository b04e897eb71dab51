//! The pooling family's new strategies and padding: average pooling (valid and same), max pooling
//! with same padding, and the global poolings. GPU kernels against the reference on odd shapes;
//! the CPU backend's passes against the reference, exactly; the reference backward against
//! finite differences; Keras' shapes and values.

mod common;
use common::pool::{distinct, max_on_gpu};
use common::*;
use wgnn_engine::model::ModelSpec;
use wgnn_engine::ops::pool::{self, PoolShape};
use wgnn_engine::util::simd::Isa;

/// (n, h, w, c), pool, strides, same padding.
type Case = ((usize, usize, usize, usize), [usize; 2], [usize; 2], bool);

const CASES: &[Case] = &[
    ((2, 7, 7, 3), [2, 2], [2, 2], false),
    ((2, 7, 7, 3), [2, 2], [2, 2], true),
    ((1, 9, 10, 5), [3, 3], [2, 2], true),
    ((3, 5, 6, 2), [3, 2], [1, 2], true),
    ((1, 4, 4, 1), [5, 5], [1, 1], true),
    ((2, 13, 11, 4), [3, 3], [2, 2], false),
    // Global pooling: one window over the whole image.
    ((3, 6, 5, 7), [6, 5], [6, 5], false),
];

fn shape(c: &Case) -> PoolShape {
    let ((n, h, w, ch), p, s, same) = *c;
    PoolShape::padded(n, h, w, ch, p, s, same).unwrap()
}

/// None (the test skipped) on a machine with no adapter.
fn gpu_avg(s: &PoolShape, x: &[f32], dy: &[f32]) -> Option<(Vec<f32>, Vec<f32>)> {
    let ctx = gpu()?;
    let gx = ctx.tensor(x, "x").unwrap();
    let gy = ctx.alloc(s.y_len(), "y").unwrap();
    let gdy = ctx.tensor(dy, "dy").unwrap();
    let gdx = ctx.tensor(&vec![f32::NAN; s.x_len()], "dx").unwrap();
    let f = pool::avg_forward(ctx, s, &gx, &gy).unwrap();
    let b = pool::avg_backward(ctx, s, &gdy, &gdx).unwrap();
    ctx.run(&[&f, &b]).unwrap();
    Some((ctx.read_f32(&gy).unwrap(), ctx.read_f32(&gdx).unwrap()))
}

#[test]
fn average_pooling_matches_the_reference() {
    for (k, c) in CASES.iter().enumerate() {
        let s = shape(c);
        let x = rand_vec(k as u64, s.x_len());
        let dy = rand_vec(100 + k as u64, s.y_len());
        let Some((y, dx)) = gpu_avg(&s, &x, &dy) else {
            return;
        };
        assert_close(
            &format!("avgpool forward {c:?}"),
            &y,
            &pool::avg_forward_ref(&s, &x),
        );
        assert_close(
            &format!("avgpool backward {c:?}"),
            &dx,
            &pool::avg_backward_ref(&s, &dy),
        );
    }
}

#[test]
fn max_pooling_with_same_padding_matches_the_reference() {
    for (k, c) in CASES.iter().enumerate() {
        let s = shape(c);
        let x = distinct(k as u64, s.x_len());
        let dy = rand_vec(200 + k as u64, s.y_len());
        let Some((y, arg, dx)) = max_on_gpu(&s, &x, &dy) else {
            return;
        };
        let (ry, rarg) = pool::forward_ref(&s, &x);
        assert_close(&format!("maxpool forward {c:?}"), &y, &ry);
        assert_eq!(arg, rarg, "{c:?}: argmax differs from the reference");
        assert_close(
            &format!("maxpool backward {c:?}"),
            &dx,
            &pool::backward_ref(&s, &dy, &rarg),
        );
    }
}

#[test]
fn cpu_passes_equal_the_reference_exactly() {
    for (k, c) in CASES.iter().enumerate() {
        let s = shape(c);
        let x = distinct(k as u64, s.x_len());
        let dy = rand_vec(300 + k as u64, s.y_len());
        let (mut y, mut arg) = (vec![f32::NAN; s.y_len()], vec![u32::MAX; s.y_len()]);
        for isa in Isa::available() {
            pool::forward_into(isa, &s, &x, &mut y, &mut arg);
            let (ry, rarg) = pool::forward_ref(&s, &x);
            assert_eq!((&y, &arg), (&ry, &rarg), "{c:?} max forward on {isa}");
        }
        let mut dx = vec![f32::NAN; s.x_len()];
        pool::backward_into(&s, &dy, &arg, &mut dx);
        assert_eq!(dx, pool::backward_ref(&s, &dy, &arg), "{c:?} max backward");
        pool::avg_forward_into(&s, &x, &mut y);
        assert_eq!(y, pool::avg_forward_ref(&s, &x), "{c:?} avg forward");
        pool::avg_backward_into(&s, &dy, &mut dx);
        assert_eq!(dx, pool::avg_backward_ref(&s, &dy), "{c:?} avg backward");
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    for (k, c) in CASES.iter().enumerate() {
        let s = shape(c);
        let x = distinct(400 + k as u64, s.x_len());
        let g = rand_vec(500 + k as u64, s.y_len());
        let dx = pool::avg_backward_ref(&s, &g);
        check_grad(&format!("avgpool {c:?}"), &x, &dx, |x| {
            dot(&pool::avg_forward_ref(&s, x), &g)
        });
        let (_, arg) = pool::forward_ref(&s, &x);
        let dx = pool::backward_ref(&s, &g, &arg);
        check_grad(&format!("maxpool {c:?}"), &x, &dx, |x| {
            dot(&pool::forward_ref(&s, x).0, &g)
        });
    }
}

#[test]
fn same_padding_counts_only_real_pixels() {
    // 3x3 image 1..9, pool 2, stride 2, same: TensorFlow pads one row and column at the end, and
    // the average of a clipped window divides by the pixels it covers.
    let s = PoolShape::padded(1, 3, 3, 1, [2, 2], [2, 2], true).unwrap();
    assert_eq!((s.oh, s.ow, s.pad_top, s.pad_left), (2, 2, 0, 0));
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    assert_eq!(pool::avg_forward_ref(&s, &x), vec![3.0, 4.5, 7.5, 9.0]);
    assert_eq!(pool::forward_ref(&s, &x).0, vec![5.0, 6.0, 8.0, 9.0]);
    let Some((y, _)) = gpu_avg(&s, &x, &[1.0; 4]) else {
        return;
    };
    assert_eq!(y, vec![3.0, 4.5, 7.5, 9.0]);
    // Pool 3, stride 1, same on 3x3: one pixel of padding on every side.
    let s = PoolShape::padded(1, 3, 3, 1, [3, 3], [1, 1], true).unwrap();
    assert_eq!((s.oh, s.ow, s.pad_top, s.pad_left), (3, 3, 1, 1));
    assert_eq!(
        pool::avg_forward_ref(&s, &x)[0],
        (1.0 + 2.0 + 4.0 + 5.0) / 4.0
    );
}

#[test]
fn layers_have_keras_shapes_and_no_parameters() {
    let toml = r#"
        [[layers]]
        type = "conv2d"
        filters = 8
        kernel_size = 3
        padding = "same"
        activation = "tanh"
        [[layers]]
        type = "average_pooling2d"
        pool_size = 3
        strides = 2
        padding = "same"
        [[layers]]
        type = "maxpool2d"
        padding = "same"
        [[layers]]
        type = "avgpool2d"
        [[layers]]
        type = "global_max_pooling2d"
        [[layers]]
        type = "dense"
        units = 10
        activation = "softmax"
    "#;
    let spec = ModelSpec::from_toml_str(toml, "pools.toml").unwrap();
    let infos = spec.infer().unwrap();
    let got: Vec<(&str, Vec<usize>, usize)> = infos
        .iter()
        .map(|l| (l.kind, l.output_shape.clone(), l.params))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Conv2D", vec![28, 28, 8], 80),
            ("AveragePooling2D", vec![14, 14, 8], 0),
            ("MaxPooling2D", vec![7, 7, 8], 0),
            ("AveragePooling2D", vec![3, 3, 8], 0),
            ("GlobalMaxPooling2D", vec![8], 0),
            ("Dense", vec![10], 90),
        ]
    );
    assert_eq!(infos[1].name, "average_pooling2d");
    assert_eq!(infos[3].name, "average_pooling2d_1");
    let again = ModelSpec::from_toml_str(&spec.to_toml(), "again.toml").unwrap();
    assert_eq!(again, spec);
    let e = ModelSpec::from_toml_str(
        "[[layers]]\ntype = \"global_avgpool2d\"\npool_size = 2\n",
        "bad.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("pool_size") && e.contains("layer 1"), "{e}");
}
