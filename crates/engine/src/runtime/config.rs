//! Kernel configuration as data: the values of the WGSL `override` constants (workgroup sizes)
//! each kernel is compiled with on one adapter. An empty config compiles every kernel with the
//! defaults written in its shader; a value set here (by hand, or later by a tuning cache) replaces
//! the default for every kernel that declares that constant, or for one kernel only.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Override values by name, in name order: what a kernel is compiled with, and part of the key
/// under which its pipeline is cached.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Constants(BTreeMap<String, f64>);

impl Constants {
    pub fn set(&mut self, name: &str, value: f64) {
        self.0.insert(name.to_string(), value);
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Only the constants named in `declared` (wgpu rejects a value for a constant the module
    /// does not declare).
    pub fn only(&self, declared: &[String]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(n, _)| declared.contains(n))
                .map(|(n, v)| (n.clone(), *v))
                .collect(),
        )
    }

    /// A hashable form (f64 has no `Eq`): the names with the values' bits.
    pub fn key(&self) -> Vec<(String, u64)> {
        self.0
            .iter()
            .map(|(n, v)| (n.clone(), v.to_bits()))
            .collect()
    }
}

/// `WG=256 WG_BLOCK=64` (`defaults` when there are none).
impl std::fmt::Display for Constants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("defaults");
        }
        let each: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        f.write_str(&each.join(" "))
    }
}

/// The constants every kernel of one adapter is asked to be compiled with. The kernel cache
/// applies them, falling back to a smaller workgroup where the adapter allows less (see
/// `limits_check`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelConfig {
    /// For every kernel that declares the constant.
    all: Constants,
    /// For one kernel (`shader::entry`); wins over `all`.
    per_kernel: BTreeMap<String, Constants>,
}

impl KernelConfig {
    /// `NAME=value` pairs separated by commas or spaces, each for every kernel that declares
    /// `NAME`, or `shader::entry:NAME=value` for one kernel.
    pub fn parse(s: &str) -> Result<Self> {
        let mut c = Self::default();
        for item in s.split([',', ' ']).filter(|i| !i.is_empty()) {
            let bad = || {
                Error::Msg(format!(
                    "kernel constant `{item}`: expected NAME=value or shader::entry:NAME=value, such as WG=128"
                ))
            };
            let (lhs, value) = item.split_once('=').ok_or_else(bad)?;
            let value: f64 = value.trim().parse().map_err(|_| bad())?;
            match lhs.rsplit_once(':') {
                Some((kernel, name)) => {
                    let (shader, entry) = kernel.split_once("::").ok_or_else(bad)?;
                    c.set_for(shader, entry, name, value);
                }
                None => c.set(lhs, value),
            }
        }
        Ok(c)
    }

    /// `name = value` for every kernel that declares `name`.
    pub fn set(&mut self, name: &str, value: f64) {
        self.all.set(name, value);
    }

    /// `name = value` for `shader::entry` only.
    pub fn set_for(&mut self, shader: &str, entry: &str, name: &str, value: f64) {
        self.per_kernel
            .entry(format!("{shader}::{entry}"))
            .or_default()
            .set(name, value);
    }

    /// The constants asked for `shader::entry` (the kernel's own values over the shared ones).
    pub fn constants(&self, shader: &str, entry: &str) -> Constants {
        let mut c = self.all.clone();
        if let Some(own) = self.per_kernel.get(&format!("{shader}::{entry}")) {
            c.0.extend(own.0.iter().map(|(n, v)| (n.clone(), *v)));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn constants_display() {
        use crate::runtime::Constants;
        let mut c = Constants::default();
        assert_eq!(c.to_string(), "defaults");
        c.set("WG", 128.0);
        c.set("TILE", 0.5);
        assert_eq!(c.to_string(), "TILE=0.5 WG=128");
    }

    #[test]
    fn kernel_config_parse() {
        use crate::runtime::KernelConfig;
        let c = KernelConfig::parse("WG=64, reduce::col_sum:WG=32").unwrap();
        assert_eq!(c.constants("pool", "max_forward").get("WG"), Some(64.0));
        assert_eq!(c.constants("reduce", "col_sum").get("WG"), Some(32.0));
        assert!(KernelConfig::parse("WG").is_err());
    }

    #[test]
    fn kernel_config_constants() {
        use crate::runtime::KernelConfig;
        let mut c = KernelConfig::default();
        c.set("WG", 128.0);
        c.set_for("reduce", "col_sum", "WG", 64.0);
        assert_eq!(c.constants("reduce", "col_sum").get("WG"), Some(64.0));
        assert_eq!(c.constants("pool", "max_forward").get("WG"), Some(128.0));
    }
}
