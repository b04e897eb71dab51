//! The Keras-style `model.summary()` table.

use super::ModelSpec;
use crate::error::Result;
use crate::layers::shape_str;

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
    let infos = spec.infer()?;
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
