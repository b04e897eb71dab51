//! The convolution, max-pooling and dense shapes of every preset, once each: the ops' checks run
//! them beside their own odd cases (the ops cannot read the model specs, a higher layer).

use std::collections::BTreeSet;

use crate::error::Result;
use crate::model::{for_data, preset, Layer, Padding, PRESETS};
use crate::ops::check_case::ModelShapes;
use crate::ops::gemm::GemmShape;

/// Colour inputs the checks also size a preset for (CIFAR's 32x32x3, 10 classes), beside every
/// preset's own 28x28x1.
const COLOUR: [(&str, [usize; 3]); 1] = [("convnet", [32, 32, 3])];

/// The presets' layer shapes at `batch` (None: each preset's own batch size).
pub fn preset_shapes(batch: Option<usize>) -> Result<ModelShapes> {
    let mut m = ModelShapes::default();
    let mut seen = BTreeSet::new();
    let own = PRESETS.iter().map(|n| (n.to_string(), preset(n)));
    let colour = COLOUR.iter().map(|(n, input)| {
        let label = format!("{n}@{}", crate::util::text::shape_hwc(*input));
        (label, preset(n).map(|s| for_data(s, *input, 10)))
    });
    for (name, spec) in own.chain(colour) {
        let spec = spec?;
        let name = name.as_str();
        let n = batch.unwrap_or(spec.defaults.batch_size);
        // Each layer's input shape as the model's own shape inference gives it.
        for (layer, info) in spec.layers.iter().zip(spec.infer()?) {
            let (h, w, c) = match info.input_shape[..] {
                [h, w, c] => (h, w, c),
                [k] => (1, 1, k),
                _ => continue,
            };
            match layer {
                Layer::Conv2D(l) => {
                    let same = l.padding == Padding::Same;
                    let case = (n, h, w, c, l.filters, l.kernel, l.strides, same);
                    if seen.insert(format!("conv{case:?}")) {
                        m.convs.push((name.to_string(), case));
                    }
                }
                Layer::MaxPool2D(l) if l.padding == Padding::Valid => {
                    let case = [
                        n,
                        h,
                        w,
                        c,
                        l.pool[0] * 10 + l.pool[1],
                        l.strides[0] * 10 + l.strides[1],
                    ];
                    if seen.insert(format!("pool{case:?}")) {
                        m.pools.push((name.to_string(), case));
                    }
                }
                Layer::Dense(l) => {
                    let d = GemmShape::dense(n, h * w * c, l.units);
                    for s in [d.forward, d.weights, d.input] {
                        if seen.insert(format!("gemm{s:?}")) {
                            m.gemms.push((name.to_string(), s));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(m)
}
