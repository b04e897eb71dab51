//! Reading a model file's tables field by field, with errors that name the field.

use toml::{Table, Value};

use crate::error::Error;

/// A field's problem, as a sentence; the caller adds the layer or table it belongs to.
pub use crate::onnx::Res;

pub fn type_name(v: &Value) -> &'static str {
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
pub struct Fields<'a> {
    tbl: &'a Table,
    allowed: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    pub fn new(tbl: &'a Table) -> Self {
        Fields {
            tbl,
            allowed: Vec::new(),
        }
    }

    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.allowed.push(key);
        self.tbl.get(key)
    }

    pub fn uint(key: &str, v: &Value) -> Res<usize> {
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

    pub fn usize_opt(&mut self, key: &'static str) -> Res<Option<usize>> {
        self.get(key).map(|v| Self::uint(key, v)).transpose()
    }

    pub fn usize_req(&mut self, key: &'static str) -> Res<usize> {
        self.usize_opt(key)?
            .ok_or_else(|| format!("missing field \"{key}\""))
    }

    /// An integer `n` (meaning `[n, n]`) or an array `[h, w]`.
    pub fn pair_opt(&mut self, key: &'static str) -> Res<Option<[usize; 2]>> {
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

    pub fn f32_opt(&mut self, key: &'static str) -> Res<Option<f32>> {
        Ok(self.f64_opt(key)?.map(|v| v as f32))
    }

    pub fn f64_opt(&mut self, key: &'static str) -> Res<Option<f64>> {
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

    pub fn str_opt(&mut self, key: &'static str) -> Res<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(format!(
                "field \"{key}\" must be a string, got {}",
                type_name(v)
            )),
        }
    }

    pub fn parsed<T: std::str::FromStr<Err = Error>>(
        &mut self,
        key: &'static str,
    ) -> Res<Option<T>> {
        self.str_opt(key)?
            .map(|s| s.parse::<T>().map_err(|e| format!("field \"{key}\": {e}")))
            .transpose()
    }

    /// Errors on keys that were never asked for.
    pub fn finish(self) -> Res<()> {
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
