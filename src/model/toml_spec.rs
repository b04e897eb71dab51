//! Reading and writing the TOML model format (see `docs/model-format.md`).

use toml::{Table, Value};

use super::{Activation, Layer, ModelSpec, OptimizerKind, Padding, TrainDefaults, Validation};
use crate::error::{Error, Result};
use crate::ops::augment::Augment;
use crate::train::Schedule;

type Res<T> = std::result::Result<T, String>;

const LAYER_TYPES: &str =
    "conv2d, maxpool2d (max_pooling2d), flatten, dense, dropout, batchnorm (batch_normalization), activation";

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Typed access to a TOML table that remembers which keys were read, so that
/// unknown keys can be reported.
struct Fields<'a> {
    tbl: &'a Table,
    allowed: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(tbl: &'a Table) -> Self {
        Fields {
            tbl,
            allowed: Vec::new(),
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.allowed.push(key);
        self.tbl.get(key)
    }

    fn uint(key: &str, v: &Value) -> Res<usize> {
        match v {
            Value::Integer(i) if *i >= 0 => {
                usize::try_from(*i).map_err(|_| format!("field \"{key}\" is too large: {i}"))
            }
            Value::Integer(i) => Err(format!(
                "field \"{key}\" must be a non-negative integer, got {i}"
            )),
            other => Err(format!(
                "field \"{key}\" must be an integer, got {}",
                type_name(other)
            )),
        }
    }

    fn usize_opt(&mut self, key: &'static str) -> Res<Option<usize>> {
        self.get(key).map(|v| Self::uint(key, v)).transpose()
    }

    fn usize_req(&mut self, key: &'static str) -> Res<usize> {
        self.usize_opt(key)?
            .ok_or_else(|| format!("missing field \"{key}\""))
    }

    /// An integer `n` (meaning `[n, n]`) or an array `[h, w]`.
    fn pair_opt(&mut self, key: &'static str) -> Res<Option<[usize; 2]>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => {
                if a.len() != 2 {
                    return Err(format!(
                        "field \"{key}\" must be an integer or an array [h, w] of 2 integers, got {} elements",
                        a.len()
                    ));
                }
                Ok(Some([Self::uint(key, &a[0])?, Self::uint(key, &a[1])?]))
            }
            Some(v) => {
                let n = Self::uint(key, v).map_err(|_| {
                    format!(
                        "field \"{key}\" must be an integer or an array [h, w], got {}",
                        type_name(v)
                    )
                })?;
                Ok(Some([n, n]))
            }
        }
    }

    fn f32_opt(&mut self, key: &'static str) -> Res<Option<f32>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f as f32)),
            Some(Value::Integer(i)) => Ok(Some(*i as f32)),
            Some(v) => Err(format!(
                "field \"{key}\" must be a number, got {}",
                type_name(v)
            )),
        }
    }

    fn f64_opt(&mut self, key: &'static str) -> Res<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(Value::Integer(i)) => Ok(Some(*i as f64)),
            Some(v) => Err(format!(
                "field \"{key}\" must be a number, got {}",
                type_name(v)
            )),
        }
    }

    fn str_opt(&mut self, key: &'static str) -> Res<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(format!(
                "field \"{key}\" must be a string, got {}",
                type_name(v)
            )),
        }
    }

    fn parsed<T: std::str::FromStr<Err = Error>>(&mut self, key: &'static str) -> Res<Option<T>> {
        self.str_opt(key)?
            .map(|s| s.parse::<T>().map_err(|e| format!("field \"{key}\": {e}")))
            .transpose()
    }

    /// Errors on keys that were never asked for.
    fn finish(self) -> Res<()> {
        let mut keys: Vec<&String> = self.tbl.keys().collect();
        keys.sort();
        for k in keys {
            if !self.allowed.contains(&k.as_str()) {
                return Err(format!(
                    "unknown field \"{k}\" (expected one of: {})",
                    self.allowed.join(", ")
                ));
            }
        }
        Ok(())
    }
}

fn parse_layer(tbl: &Table) -> Res<Layer> {
    let mut f = Fields::new(tbl);
    let ty = f.str_opt("type")?.unwrap_or_default();
    let layer = match ty {
        "conv2d" => {
            let filters = f.usize_req("filters")?;
            let kernel = f
                .pair_opt("kernel_size")?
                .ok_or_else(|| "missing field \"kernel_size\"".to_string())?;
            let strides = f.pair_opt("strides")?.unwrap_or([1, 1]);
            let padding = f.parsed("padding")?.unwrap_or(Padding::Valid);
            let activation = f.parsed("activation")?.unwrap_or(Activation::Linear);
            Layer::Conv2D {
                filters,
                kernel,
                strides,
                padding,
                activation,
            }
        }
        "maxpool2d" | "max_pooling2d" => {
            let pool = f.pair_opt("pool_size")?.unwrap_or([2, 2]);
            let strides = f.pair_opt("strides")?.unwrap_or(pool);
            let padding = f.parsed("padding")?.unwrap_or(Padding::Valid);
            Layer::MaxPool2D {
                pool,
                strides,
                padding,
            }
        }
        "flatten" => Layer::Flatten,
        "dense" => {
            let units = f.usize_req("units")?;
            let activation = f.parsed("activation")?.unwrap_or(Activation::Linear);
            Layer::Dense { units, activation }
        }
        "dropout" => Layer::Dropout {
            rate: f
                .f32_opt("rate")?
                .ok_or_else(|| "missing field \"rate\"".to_string())?,
        },
        "batchnorm" | "batch_normalization" => Layer::BatchNorm {
            momentum: f.f32_opt("momentum")?.unwrap_or(0.99),
            epsilon: f.f32_opt("epsilon")?.unwrap_or(0.001),
        },
        "activation" => Layer::Activation(
            f.parsed("activation")?
                .ok_or_else(|| "missing field \"activation\"".to_string())?,
        ),
        other => {
            return Err(format!(
                "unknown layer type \"{other}\" (expected one of: {LAYER_TYPES})"
            ))
        }
    };
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
    f.finish()?;
    Ok(d)
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
    let input = match f.get("input") {
        None => [28, 28, 1],
        Some(Value::Array(a)) if a.len() == 3 => {
            let mut out = [0usize; 3];
            for (o, v) in out.iter_mut().zip(a) {
                *o = Fields::uint("input", v).map_err(err)?;
            }
            out
        }
        Some(_) => {
            return Err(err(
                "field \"input\" must be an array [height, width, channels] of 3 integers".into(),
            ))
        }
    };
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
    let mut layers = Vec::with_capacity(layer_values.len());
    for (i, v) in layer_values.iter().enumerate() {
        let tbl = match v {
            Value::Table(t) => t,
            other => {
                return Err(err(format!(
                    "layer {}: must be a table, got {}",
                    i + 1,
                    type_name(other)
                )))
            }
        };
        let ty = match tbl.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(err(format!(
                    "layer {}: field \"type\" must be a string, got {}",
                    i + 1,
                    type_name(other)
                )))
            }
            None => {
                return Err(err(format!(
                    "layer {}: missing field \"type\" (one of: {LAYER_TYPES})",
                    i + 1
                )))
            }
        };
        let layer = parse_layer(tbl).map_err(|m| err(format!("layer {} ({ty}): {m}", i + 1)))?;
        layers.push(layer);
    }
    let spec = ModelSpec {
        name,
        input,
        layers,
        defaults,
    };
    spec.infer().map_err(|e| err(e.to_string()))?;
    Ok(spec)
}

fn pair(p: [usize; 2]) -> String {
    format!("[{}, {}]", p[0], p[1])
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
    for layer in &spec.layers {
        s.push_str("\n[[layers]]\n");
        match layer {
            Layer::Conv2D {
                filters,
                kernel,
                strides,
                padding,
                activation,
            } => {
                s.push_str("type = \"conv2d\"\n");
                s.push_str(&format!("filters = {filters}\n"));
                s.push_str(&format!("kernel_size = {}\n", pair(*kernel)));
                s.push_str(&format!("strides = {}\n", pair(*strides)));
                s.push_str(&format!("padding = \"{padding}\"\n"));
                s.push_str(&format!("activation = \"{activation}\"\n"));
            }
            Layer::MaxPool2D {
                pool,
                strides,
                padding,
            } => {
                s.push_str("type = \"maxpool2d\"\n");
                s.push_str(&format!("pool_size = {}\n", pair(*pool)));
                s.push_str(&format!("strides = {}\n", pair(*strides)));
                s.push_str(&format!("padding = \"{padding}\"\n"));
            }
            Layer::Flatten => s.push_str("type = \"flatten\"\n"),
            Layer::Dense { units, activation } => {
                s.push_str("type = \"dense\"\n");
                s.push_str(&format!("units = {units}\n"));
                s.push_str(&format!("activation = \"{activation}\"\n"));
            }
            Layer::Dropout { rate } => {
                s.push_str("type = \"dropout\"\n");
                s.push_str(&format!("rate = {rate:?}\n"));
            }
            Layer::BatchNorm { momentum, epsilon } => {
                s.push_str("type = \"batchnorm\"\n");
                s.push_str(&format!("momentum = {momentum:?}\n"));
                s.push_str(&format!("epsilon = {epsilon:?}\n"));
            }
            Layer::Activation(a) => {
                s.push_str("type = \"activation\"\n");
                s.push_str(&format!("activation = \"{a}\"\n"));
            }
        }
    }
    s
}
