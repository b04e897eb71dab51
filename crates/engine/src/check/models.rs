//! The layer shapes of every preset, once each, for the kinds of layer the ops' checks ask for
//! (`OpCheck::models`): they run them beside their own odd cases (the ops cannot read the model
//! specs, a higher layer).

use std::collections::BTreeSet;

use crate::error::Result;
use crate::model::{for_data, preset, Layer, Padding, PRESETS};
use crate::ops::check_case::{ModelLayers, ModelShapes};
use crate::ops::gemm::GemmShape;

/// Colour inputs the checks also size a preset for (CIFAR's 32x32x3, 10 classes), beside every
/// preset's own 28x28x1.
const COLOUR: [(&str, [usize; 3]); 1] = [("convnet", [32, 32, 3])];

/// The presets' layer shapes of the kinds in `wanted`, at `batch` (None: each preset's own batch
/// size).
pub fn preset_shapes(batch: Option<usize>, wanted: &[ModelLayers]) -> Result<ModelShapes> {
    let wants = |k: ModelLayers| wanted.contains(&k);
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
                Layer::Conv2D(l) if wants(ModelLayers::Conv2D) => {
                    let same = l.padding == Padding::Same;
                    let case = (n, h, w, c, l.filters, l.kernel, l.strides, same);
                    if seen.insert(format!("conv{case:?}")) {
                        m.convs.push((name.to_string(), case));
                    }
                }
                Layer::MaxPool2D(l)
                    if l.padding == Padding::Valid && wants(ModelLayers::MaxPool2D) =>
                {
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
                Layer::Dense(l) if wants(ModelLayers::Dense) => {
                    let d = GemmShape::dense(n, h * w * c, l.units);
                    for s in [d.forward, d.weights, d.input] {
                        if seen.insert(format!("gemm{s:?}")) {
                            m.gemms.push((name.to_string(), s));
                        }
                    }
                }
                Layer::BatchNorm(_) if wants(ModelLayers::BatchNorm) => {
                    let case = (h * w, c, n, n);
                    if seen.insert(format!("bn{case:?}")) {
                        m.batchnorms.push((name.to_string(), case));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::REGISTRY;

    /// Every op that asks for the models' layers gets some, at batch 2 and at the presets' own
    /// batches; and each op sees only the kind it asked for.
    #[test]
    fn every_op_gets_the_model_layers_it_asks_for() {
        let wanted: Vec<ModelLayers> = REGISTRY.iter().map(|op| op.models).collect();
        for batch in [Some(2), None] {
            let all = preset_shapes(batch, &wanted).unwrap();
            for op in REGISTRY.iter().filter(|op| op.models != ModelLayers::None) {
                let mine = all.only(op.models);
                assert!(mine.count(op.models) > 0, "{}: no model shapes", op.op);
                let total =
                    mine.convs.len() + mine.pools.len() + mine.gemms.len() + mine.batchnorms.len();
                assert_eq!(total, mine.count(op.models), "{} sees other kinds", op.op);
            }
        }
    }

    #[test]
    fn batch_norm_shapes_come_from_the_presets_that_normalise() {
        let m = preset_shapes(Some(2), &[ModelLayers::BatchNorm]).unwrap();
        assert!(m.convs.is_empty() && m.gemms.is_empty() && m.pools.is_empty());
        // cnn-bn normalises its first convolution's 26x26x32 maps.
        assert!(
            m.batchnorms
                .iter()
                .any(|(name, c)| name == "cnn-bn" && *c == (26 * 26, 32, 2, 2)),
            "{:?}",
            m.batchnorms
        );
    }
}
