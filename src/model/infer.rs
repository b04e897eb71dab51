//! Shape inference, validation and the Keras-style summary.

use std::collections::HashMap;

use super::{Activation, Layer, LayerInfo, ModelSpec, Padding};
use crate::error::{Error, Result};

fn shape_str(shape: &[usize]) -> String {
    let mut s = String::from("(None");
    for d in shape {
        s.push_str(&format!(", {d}"));
    }
    s.push(')');
    s
}

fn mul(a: usize, b: usize, what: &str) -> std::result::Result<usize, String> {
    a.checked_mul(b)
        .ok_or_else(|| format!("{what} overflows (the layer is absurdly large)"))
}

/// Output size of a sliding window over `input`.
fn window_out(input: usize, k: usize, s: usize, padding: Padding) -> usize {
    match padding {
        Padding::Valid => (input - k) / s + 1,
        Padding::Same => input.div_ceil(s),
    }
}

/// Checks one layer; returns (output shape, params, trainable).
fn layer_shape(
    layer: &Layer,
    input: &[usize],
    is_last: bool,
) -> std::result::Result<(Vec<usize>, usize, usize), String> {
    let need_3d = |what: &str| -> std::result::Result<[usize; 3], String> {
        match input {
            [h, w, c] => Ok([*h, *w, *c]),
            _ => Err(format!(
                "{what} needs an image input (H, W, C) but gets {}{}",
                shape_str(input),
                if input.len() == 1 {
                    "; it cannot follow Flatten or Dense"
                } else {
                    ""
                }
            )),
        }
    };
    let check_act = |a: Activation| -> std::result::Result<(), String> {
        if a == Activation::Softmax && !is_last {
            Err("softmax is only supported as the activation of the final layer".into())
        } else {
            Ok(())
        }
    };
    match layer {
        Layer::Conv2D {
            filters,
            kernel,
            strides,
            padding,
            activation,
        } => {
            let [h, w, c] = need_3d("Conv2D")?;
            if *filters == 0 {
                return Err("filters must be at least 1".into());
            }
            if kernel[0] == 0 || kernel[1] == 0 {
                return Err(format!(
                    "kernel {}x{} must be at least 1x1",
                    kernel[0], kernel[1]
                ));
            }
            if strides[0] == 0 || strides[1] == 0 {
                return Err(format!(
                    "strides {}x{} must be at least 1x1",
                    strides[0], strides[1]
                ));
            }
            if *padding == Padding::Valid && (kernel[0] > h || kernel[1] > w) {
                return Err(format!(
                    "kernel {}x{} is larger than its {h}x{w} input",
                    kernel[0], kernel[1]
                ));
            }
            check_act(*activation)?;
            let oh = window_out(h, kernel[0], strides[0], *padding);
            let ow = window_out(w, kernel[1], strides[1], *padding);
            let weights = mul(
                mul(mul(kernel[0], kernel[1], "kernel")?, c, "kernel")?,
                *filters,
                "kernel",
            )?;
            let p = weights
                .checked_add(*filters)
                .ok_or("parameter count overflows")?;
            mul(mul(oh, ow, "output")?, *filters, "output")?;
            Ok((vec![oh, ow, *filters], p, p))
        }
        Layer::MaxPool2D {
            pool,
            strides,
            padding,
        } => {
            let [h, w, c] = need_3d("MaxPooling2D")?;
            if pool[0] == 0 || pool[1] == 0 {
                return Err(format!(
                    "pool size {}x{} must be at least 1x1",
                    pool[0], pool[1]
                ));
            }
            if strides[0] == 0 || strides[1] == 0 {
                return Err(format!(
                    "strides {}x{} must be at least 1x1",
                    strides[0], strides[1]
                ));
            }
            if *padding == Padding::Same {
                return Err(
                    "padding \"same\" is not supported for max pooling yet (use \"valid\")".into(),
                );
            }
            if pool[0] > h || pool[1] > w {
                return Err(format!(
                    "pool size {}x{} is larger than its {h}x{w} input",
                    pool[0], pool[1]
                ));
            }
            let oh = window_out(h, pool[0], strides[0], *padding);
            let ow = window_out(w, pool[1], strides[1], *padding);
            Ok((vec![oh, ow, c], 0, 0))
        }
        Layer::Flatten => {
            let n = input
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or("flattened size overflows")?;
            Ok((vec![n], 0, 0))
        }
        Layer::Dense { units, activation } => {
            let n = match input {
                [n] => *n,
                _ => {
                    return Err(format!(
                        "Dense needs a flat input but gets {}; add a Flatten layer before it",
                        shape_str(input)
                    ))
                }
            };
            if *units == 0 {
                return Err("units must be at least 1".into());
            }
            check_act(*activation)?;
            let p = mul(n, *units, "weights")?
                .checked_add(*units)
                .ok_or("parameter count overflows")?;
            Ok((vec![*units], p, p))
        }
        Layer::Dropout { rate } => {
            if !(rate.is_finite() && (0.0..1.0).contains(rate)) {
                return Err(format!("dropout rate {rate} must be in [0, 1)"));
            }
            Ok((input.to_vec(), 0, 0))
        }
        Layer::BatchNorm { momentum, epsilon } => {
            if !(momentum.is_finite() && (0.0..1.0).contains(momentum)) {
                return Err(format!("momentum {momentum} must be in [0, 1)"));
            }
            if !(epsilon.is_finite() && *epsilon > 0.0) {
                return Err(format!("epsilon {epsilon} must be positive"));
            }
            let c = input.last().copied().unwrap_or(0);
            let p = mul(4, c, "parameters")?;
            Ok((input.to_vec(), p, 2 * c))
        }
        Layer::Activation(a) => {
            check_act(*a)?;
            Ok((input.to_vec(), 0, 0))
        }
    }
}

pub(super) fn infer(spec: &ModelSpec) -> Result<Vec<LayerInfo>> {
    let [h, w, c] = spec.input;
    if h == 0 || w == 0 || c == 0 {
        return Err(Error::model(format!(
            "input shape {h}x{w}x{c} must have no zero dimension"
        )));
    }
    if spec.layers.is_empty() {
        return Err(Error::model("model has no layers"));
    }
    let mut counters: HashMap<&'static str, usize> = HashMap::new();
    let mut shape = vec![h, w, c];
    let mut out = Vec::with_capacity(spec.layers.len());
    let last = spec.layers.len() - 1;
    for (i, layer) in spec.layers.iter().enumerate() {
        let base = layer.base_name();
        let k = counters.entry(base).or_insert(0);
        let name = if *k == 0 {
            base.to_string()
        } else {
            format!("{base}_{k}")
        };
        *k += 1;
        let (output, params, trainable) = layer_shape(layer, &shape, i == last)
            .map_err(|m| Error::model(format!("layer {} ({name}): {m}", i + 1)))?;
        out.push(LayerInfo {
            name,
            kind: layer.kind(),
            input_shape: std::mem::replace(&mut shape, output.clone()),
            output_shape: output,
            params,
            trainable,
        });
    }
    // The model must end with a softmax over >= 2 classes.
    let li = &out[last];
    let ends_softmax = matches!(
        spec.layers[last],
        Layer::Dense {
            activation: Activation::Softmax,
            ..
        } | Layer::Activation(Activation::Softmax)
    );
    if !ends_softmax {
        return Err(Error::model(format!(
            "layer {} ({}): the model must end with a softmax (a Dense layer with activation \"softmax\", or a softmax Activation)",
            last + 1,
            li.name
        )));
    }
    if li.output_shape.len() != 1 || li.output_shape[0] < 2 {
        return Err(Error::model(format!(
            "layer {} ({}): the final softmax must output a flat vector of at least 2 classes, got {}",
            last + 1,
            li.name,
            shape_str(&li.output_shape)
        )));
    }
    Ok(out)
}

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn bytes_str(params: usize) -> String {
    let b = params as f64 * 4.0;
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2} KB", b / 1024.0)
    } else {
        format!("{:.2} MB", b / (1024.0 * 1024.0))
    }
}

pub(super) fn summary(spec: &ModelSpec) -> Result<String> {
    let infos = infer(spec)?;
    let rows: Vec<[String; 3]> = infos
        .iter()
        .map(|l| {
            [
                format!("{} ({})", l.name, l.kind),
                shape_str(&l.output_shape),
                thousands(l.params),
            ]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(28);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(22);
    let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(9);
    let width = 1 + w0 + 3 + w1 + 3 + w2;
    let mut s = format!("Model: \"{}\"\n", spec.name);
    s.push_str(&"_".repeat(width));
    s.push('\n');
    s.push_str(&format!(
        " {:<w0$}   {:<w1$}   {:>w2$}\n",
        "Layer (type)", "Output Shape", "Param #"
    ));
    s.push_str(&"=".repeat(width));
    s.push('\n');
    for r in &rows {
        s.push_str(&format!(" {:<w0$}   {:<w1$}   {:>w2$}\n", r[0], r[1], r[2]));
    }
    s.push_str(&"=".repeat(width));
    s.push('\n');
    let total: usize = infos.iter().map(|l| l.params).sum();
    let trainable: usize = infos.iter().map(|l| l.trainable).sum();
    let frozen = total - trainable;
    s.push_str(&format!(
        "Total params: {} ({})\n",
        thousands(total),
        bytes_str(total)
    ));
    s.push_str(&format!(
        "Trainable params: {} ({})\n",
        thousands(trainable),
        bytes_str(trainable)
    ));
    s.push_str(&format!(
        "Non-trainable params: {} ({})\n",
        thousands(frozen),
        bytes_str(frozen)
    ));
    s.push_str(&"_".repeat(width));
    s.push('\n');
    Ok(s)
}
