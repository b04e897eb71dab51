//! Reading and writing the TOML model format (see `docs/model-format.md`).

use toml::{Table, Value};

use super::{Layer, ModelSpec, OptimizerKind, TrainDefaults, Validation};
use crate::error::{Error, Result};
use crate::layers::{type_name, Fields, Res, TomlOut};
use crate::model::schedule::Schedule;
use crate::ops::augment::Augment;
use crate::ops::ema::Ema;

fn parse_layer(tbl: &Table, ty: &str) -> Res<Layer> {
    let mut f = Fields::new(tbl);
    f.get("type");
    let layer = Layer::from_toml(ty, &mut f).unwrap_or_else(|| {
        Err(format!(
            "unknown layer type \"{ty}\" (expected one of: {})",
            Layer::toml_types()
        ))
    })?;
    f.finish()?;
    Ok(layer)
}

fn parse_train(tbl: &Table) -> Res<TrainDefaults> {
    let mut d = TrainDefaults::default();
    let mut f = Fields::new(tbl);
    if let Some(o) = f.parsed::<OptimizerKind>("optimizer")? {
        d.optimizer = o;
    }
    let lr = f.f32_opt("lr")?;
    let lr2 = f.f32_opt("learning_rate")?;
    if lr.is_some() && lr2.is_some() {
        return Err("give either \"lr\" or \"learning_rate\", not both".into());
    }
    if let Some(lr) = lr.or(lr2) {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(format!("learning rate {lr} must be positive"));
        }
        d.lr = lr;
    }
    if let Some(b) = f.usize_opt("batch_size")? {
        if b == 0 {
            return Err("field \"batch_size\" must be at least 1".into());
        }
        d.batch_size = b;
    }
    if let Some(e) = f.usize_opt("epochs")? {
        d.epochs = e;
    }
    let split = f.f32_opt("validation_split")?;
    let last = f.usize_opt("validation_last")?;
    d.validation = match (split, last) {
        (Some(_), Some(_)) => {
            return Err("give either \"validation_split\" or \"validation_last\", not both".into())
        }
        (Some(s), None) => {
            if !(0.0..1.0).contains(&s) {
                return Err(format!("field \"validation_split\" {s} must be in [0, 1)"));
            }
            Validation::Split(s)
        }
        (None, Some(n)) => Validation::LastN(n),
        (None, None) => d.validation,
    };
    if let Some(sc) = f.parsed::<Schedule>("schedule")? {
        d.schedule = sc;
    }
    if let Some(w) = f.f64_opt("warmup_epochs")? {
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!("field \"warmup_epochs\" {w} must be a number >= 0"));
        }
        d.warmup_epochs = w;
    }
    if let Some(w) = f.f32_opt("weight_decay")? {
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!("field \"weight_decay\" {w} must be a number >= 0"));
        }
        d.weight_decay = w;
    }
    if let Some(l) = f.f32_opt("label_smoothing")? {
        if !(0.0..1.0).contains(&l) {
            return Err(format!("field \"label_smoothing\" {l} must be in [0, 1)"));
        }
        d.label_smoothing = l;
    }
    if let Some(a) = f.parsed::<Augment>("augment")? {
        d.augment = (!a.is_off()).then_some(a);
    }
    if let Some(m) = f.f32_opt("ema")? {
        Ema::new(m).map_err(|e| format!("field \"ema\": {e}"))?;
        // 0 keeps no average, as on the command line.
        d.ema = (m > 0.0).then_some(m);
    }
    f.finish()?;
    Ok(d)
}

/// The `input` field: `[height, width, channels]`, MNIST's shape when absent.
fn parse_input(v: Option<&Value>) -> std::result::Result<[usize; 3], String> {
    match v {
        None => Ok([28, 28, 1]),
        Some(Value::Array(a)) if a.len() == 3 => {
            let mut out = [0usize; 3];
            for (o, v) in out.iter_mut().zip(a) {
                *o = Fields::uint("input", v)?;
            }
            Ok(out)
        }
        Some(_) => {
            Err("field \"input\" must be an array [height, width, channels] of 3 integers".into())
        }
    }
}

/// Layer `i` (from 1) of `[[layers]]`: a table whose `type` names the layer kind.
fn parse_layer_entry(i: usize, v: &Value) -> std::result::Result<Layer, String> {
    let Value::Table(tbl) = v else {
        return Err(format!("layer {i}: must be a table, got {}", type_name(v)));
    };
    let ty = match tbl.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "layer {i}: field \"type\" must be a string, got {}",
                type_name(other)
            ))
        }
        None => {
            return Err(format!(
                "layer {i}: missing field \"type\" (one of: {})",
                Layer::toml_types()
            ))
        }
    };
    parse_layer(tbl, &ty).map_err(|m| format!("layer {i} ({ty}): {m}"))
}

pub(super) fn from_toml_str(s: &str, origin: &str) -> Result<ModelSpec> {
    let err = |m: String| Error::file(origin, m);
    let root: Table = toml::from_str(s).map_err(|e| err(format!("invalid TOML: {e}")))?;
    let mut f = Fields::new(&root);
    let default_name = std::path::Path::new(origin)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("model")
        .to_string();
    let name = f
        .str_opt("name")
        .map_err(err)?
        .map(str::to_string)
        .unwrap_or(default_name);
    let input = parse_input(f.get("input")).map_err(err)?;
    let defaults = match f.get("train") {
        None => TrainDefaults::default(),
        Some(Value::Table(t)) => parse_train(t).map_err(|m| err(format!("[train]: {m}")))?,
        Some(v) => {
            return Err(err(format!(
                "\"train\" must be a table, got {}",
                type_name(v)
            )))
        }
    };
    let layer_values = match f.get("layers") {
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(err(format!(
                "\"layers\" must be an array of tables ([[layers]]), got {}",
                type_name(v)
            )))
        }
        None => return Err(err("missing [[layers]]: the model has no layers".into())),
    };
    f.finish().map_err(err)?;
    let layers = layer_values
        .iter()
        .enumerate()
        .map(|(i, v)| parse_layer_entry(i + 1, v))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err)?;
    let spec = ModelSpec {
        name,
        input,
        layers,
        defaults,
    };
    spec.infer().map_err(|e| err(e.to_string()))?;
    Ok(spec)
}

pub(super) fn to_toml(spec: &ModelSpec) -> String {
    let mut s = String::new();
    s.push_str(&format!("name = {}\n", Value::String(spec.name.clone())));
    s.push_str(&format!(
        "input = [{}, {}, {}]\n",
        spec.input[0], spec.input[1], spec.input[2]
    ));
    let d = &spec.defaults;
    s.push_str("\n[train]\n");
    s.push_str(&format!("optimizer = \"{}\"\n", d.optimizer));
    s.push_str(&format!("lr = {:?}\n", d.lr));
    s.push_str(&format!("batch_size = {}\n", d.batch_size));
    s.push_str(&format!("epochs = {}\n", d.epochs));
    match d.validation {
        Validation::Split(f) => s.push_str(&format!("validation_split = {f:?}\n")),
        Validation::LastN(n) => s.push_str(&format!("validation_last = {n}\n")),
    }
    // Written only when set, so that the models without them read as before.
    if d.schedule != Schedule::Constant {
        s.push_str(&format!("schedule = \"{}\"\n", d.schedule));
    }
    if d.warmup_epochs != 0.0 {
        s.push_str(&format!("warmup_epochs = {:?}\n", d.warmup_epochs));
    }
    if d.weight_decay != 0.0 {
        s.push_str(&format!("weight_decay = {:?}\n", d.weight_decay));
    }
    if d.label_smoothing != 0.0 {
        s.push_str(&format!("label_smoothing = {:?}\n", d.label_smoothing));
    }
    if let Some(a) = d.augment {
        s.push_str(&format!("augment = \"{a}\"\n"));
    }
    if let Some(m) = d.ema {
        s.push_str(&format!("ema = {m:?}\n"));
    }
    for layer in &spec.layers {
        s.push_str("\n[[layers]]\n");
        let mut out = TomlOut::default();
        layer.to_toml(&mut out);
        s.push_str(&out.text);
    }
    s
}
