//! The kernel tuning cache: what kernel tuning chose on each adapter, as one JSON file (where it
//! lives is the CLI's choice). An entry is keyed by adapter, backend, driver and a hash of the
//! shaders, so a driver update or a shader change makes it stale instead of wrong. Only the CLI
//! reads it (`GpuContext::open` never does), so tests and library users stay hermetic.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::adapter::AdapterSummary;
use super::config::KernelConfig;
use super::context::KernelFamily;
use crate::error::{Error, Result};

pub const FILE_NAME: &str = "kernel-tuning.json";
/// The layout of the file; another value is read as no entries.
const FORMAT: u32 = 1;

/// Which adapter and which shaders an entry was tuned for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TuningKey {
    pub adapter: String,
    pub backend: String,
    pub driver: String,
    /// [`super::shaders_hash`] when the entry was written.
    pub shaders: String,
}

impl TuningKey {
    pub fn of(adapter: &AdapterSummary) -> Self {
        Self {
            adapter: adapter.name.clone(),
            backend: adapter.backend.clone(),
            driver: adapter.driver.clone(),
            shaders: super::shaders_hash(),
        }
    }

    /// The same adapter and driver, whatever the shaders.
    fn same_adapter(&self, other: &Self) -> bool {
        (&self.adapter, &self.backend, &self.driver)
            == (&other.adapter, &other.backend, &other.driver)
    }
}

/// One adapter's tuning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuningEntry {
    #[serde(flatten)]
    pub key: TuningKey,
    pub wgnn_version: String,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub tuned_at: String,
    /// The shapes the timings were taken at.
    pub model: String,
    pub batch_size: usize,
    /// `tiled` or `blocked` (`cpu-adapter` in older caches); None when the family was forced while tuning.
    pub family: Option<String>,
    /// `shader::entry:NAME=value`, as `WGNN_KERNEL_CONSTANTS` takes them.
    pub constants: Vec<String>,
}

impl TuningEntry {
    pub fn config(&self) -> Result<KernelConfig> {
        KernelConfig::parse(&self.constants.join(" "))
    }

    pub fn family(&self) -> Option<KernelFamily> {
        self.family.as_deref().and_then(KernelFamily::parse)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuningCache {
    pub format: u32,
    pub entries: Vec<TuningEntry>,
}

impl Default for TuningCache {
    fn default() -> Self {
        Self {
            format: FORMAT,
            entries: Vec::new(),
        }
    }
}

impl TuningCache {
    /// The cache at `path`: empty when there is no file; an error sentence naming the file when
    /// it cannot be read or is not a tuning cache.
    pub fn read(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::parse(&text).map_err(|e| Error::file(path, e))
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let c: Self =
            serde_json::from_str(text).map_err(|e| format!("not a kernel tuning cache ({e})"))?;
        // A file from another version of the format: start afresh rather than misread it.
        Ok(if c.format == FORMAT {
            c
        } else {
            Self::default()
        })
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Written atomically (a temporary file renamed over the old one).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::util::fs::write_atomic(path, self.to_json().as_bytes())
    }

    /// The entry for exactly this adapter, driver and shaders.
    pub fn find(&self, key: &TuningKey) -> Option<&TuningEntry> {
        self.entries.iter().find(|e| e.key == *key)
    }

    /// An entry for this adapter and driver made with other shaders.
    pub fn stale(&self, key: &TuningKey) -> Option<&TuningEntry> {
        self.entries
            .iter()
            .find(|e| e.key.same_adapter(key) && e.key.shaders != key.shaders)
    }

    /// Adds `entry`, replacing any (stale or not) for the same adapter and driver.
    pub fn put(&mut self, entry: TuningEntry) {
        self.entries.retain(|e| !e.key.same_adapter(&entry.key));
        self.entries.push(entry);
    }
}

/// `YYYY-MM-DD HH:MM UTC` for seconds since the Unix epoch.
pub fn utc_minute(secs: u64) -> String {
    let t = crate::util::time::utc(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// Now, as [`utc_minute`] writes it.
pub fn now_utc() -> String {
    utc_minute(crate::util::time::now_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn tuning_cache_parse() {
        use crate::runtime::tuning_cache::TuningCache;
        assert!(TuningCache::parse("{").is_err());
        assert_eq!(
            TuningCache::parse(r#"{"format": 99, "entries": []}"#).unwrap(),
            TuningCache::default()
        );
    }

    #[test]
    fn utc_minute_dates() {
        use crate::runtime::tuning_cache::utc_minute;
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_796_168_100), "2026-12-01 23:35 UTC");
    }

    fn entry(driver: &str, shaders: &str) -> TuningEntry {
        TuningEntry {
            key: TuningKey {
                adapter: "llvmpipe".into(),
                backend: "vulkan".into(),
                driver: driver.into(),
                shaders: shaders.into(),
            },
            wgnn_version: "0.1.0".into(),
            tuned_at: "2026-12-01 23:35 UTC".into(),
            model: "tiny".into(),
            batch_size: 16,
            family: Some("cpu-adapter".into()),
            constants: vec!["reduce::col_sum:WG=64".into()],
        }
    }

    #[test]
    fn round_trips_and_finds_by_full_key() {
        let mut c = TuningCache::default();
        c.put(entry("mesa 25", "aaaa"));
        c.put(entry("mesa 24", "aaaa"));
        let back = TuningCache::parse(&c.to_json()).unwrap();
        assert_eq!(back, c);
        let key = entry("mesa 25", "aaaa").key;
        assert_eq!(back.find(&key).unwrap().key.driver, "mesa 25");
        let e = back.find(&key).unwrap();
        assert_eq!(
            e.config().unwrap().constants("reduce", "col_sum").get("WG"),
            Some(64.0)
        );
        assert_eq!(e.family(), Some(KernelFamily::Blocked));
    }

    #[test]
    fn other_shaders_make_an_entry_stale_and_put_replaces_it() {
        let mut c = TuningCache::default();
        c.put(entry("mesa 25", "old"));
        let key = entry("mesa 25", "new").key;
        assert!(c.find(&key).is_none());
        assert_eq!(c.stale(&key).unwrap().key.shaders, "old");
        c.put(entry("mesa 25", "new"));
        assert_eq!(c.entries.len(), 1);
        assert!(c.find(&key).is_some() && c.stale(&key).is_none());
    }
}
