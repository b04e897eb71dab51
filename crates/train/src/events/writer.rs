//! One event file: created with its version record, then appended to event by event. Each event
//! goes to the operating system as it is written, so a killed process leaves every event it
//! wrote, and a reader sees them while the run goes on.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use wgnn_engine::error::{Error, Result};

use super::proto::{Event, HistogramProto, Image, Summary, SummaryValue};
use super::record::frame;

/// How many equal buckets a weight histogram has (TensorBoard's own summaries use 30).
const BUCKETS: usize = 30;

pub struct EventFile {
    file: File,
    path: PathBuf,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl EventFile {
    /// A new event file in `dir` (created if needed), named as TensorFlow names them
    /// (`events.out.tfevents.SECONDS.HOST.PID.N.v2`), so a resumed run adds a file beside the
    /// first instead of rewriting it.
    pub fn create(dir: &Path, host: &str) -> Result<EventFile> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let secs = now() as u64;
        let pid = std::process::id();
        let (path, file) = (0..1000)
            .find_map(|n| {
                let p = dir.join(format!("events.out.tfevents.{secs}.{host}.{pid}.{n}.v2"));
                let f = File::options().write(true).create_new(true).open(&p);
                f.ok().map(|f| (p, f))
            })
            .ok_or_else(|| Error::file(dir, "cannot create an event file here"))?;
        let mut ev = EventFile { file, path };
        ev.write(Event {
            wall_time: now(),
            file_version: Some("brain.Event:2".into()),
            ..Event::default()
        })?;
        Ok(ev)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event`.
    pub fn write(&mut self, event: Event) -> Result<()> {
        self.file
            .write_all(&frame(&event.encode_to_vec()))
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Appends the values of one step, stamped now.
    pub fn summary(&mut self, step: i64, value: Vec<SummaryValue>) -> Result<()> {
        self.write(Event {
            wall_time: now(),
            step,
            summary: Some(Summary { value }),
            ..Event::default()
        })
    }
}

/// A scalar value under `tag`.
pub fn scalar(tag: &str, v: f32) -> SummaryValue {
    SummaryValue {
        tag: tag.into(),
        simple_value: Some(v),
        ..SummaryValue::default()
    }
}

/// A PNG image (`height` x `width`, RGB) under `tag`.
pub fn image(tag: &str, png: Vec<u8>, height: u32, width: u32) -> SummaryValue {
    SummaryValue {
        tag: tag.into(),
        image: Some(Image {
            height: height as i32,
            width: width as i32,
            colorspace: 3,
            encoded_image_string: png,
        }),
        ..SummaryValue::default()
    }
}

/// The histogram of `values` (finite ones) in `BUCKETS` equal buckets over their range.
pub fn histogram(values: &[f32]) -> HistogramProto {
    let finite = || {
        values
            .iter()
            .map(|&v| f64::from(v))
            .filter(|v| v.is_finite())
    };
    let (min, max) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let mut h = HistogramProto {
        num: finite().count() as f64,
        sum: finite().sum(),
        sum_squares: finite().map(|v| v * v).sum(),
        ..HistogramProto::default()
    };
    if h.num == 0.0 {
        return h;
    }
    (h.min, h.max) = (min, max);
    // One bucket around a constant tensor (a bias at zero), else BUCKETS over [min, max].
    let width = (max - min) / BUCKETS as f64;
    if width == 0.0 {
        h.bucket_limit = vec![max];
        h.bucket = vec![h.num];
        return h;
    }
    h.bucket_limit = (1..=BUCKETS).map(|i| min + width * i as f64).collect();
    h.bucket_limit[BUCKETS - 1] = max;
    h.bucket = vec![0.0; BUCKETS];
    for v in finite() {
        let i = h.bucket_limit.partition_point(|&l| l < v).min(BUCKETS - 1);
        h.bucket[i] += 1.0;
    }
    h
}

/// A histogram under `tag`.
pub fn histo_value(tag: &str, h: HistogramProto) -> SummaryValue {
    SummaryValue {
        tag: tag.into(),
        histo: Some(h),
        ..SummaryValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_every_finite_value_once() {
        let v: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut with_nan = v.clone();
        with_nan.push(f32::NAN);
        let h = histogram(&with_nan);
        assert_eq!(h.num, 1000.0);
        assert_eq!(h.bucket.iter().sum::<f64>(), 1000.0);
        assert_eq!(h.bucket.len(), BUCKETS);
        assert_eq!(*h.bucket_limit.last().unwrap(), h.max);
        let below = v
            .iter()
            .filter(|&&x| f64::from(x) <= h.bucket_limit[0])
            .count();
        assert_eq!(h.bucket[0], below as f64);
        let constant = histogram(&[0.5; 7]);
        assert_eq!((constant.bucket.clone(), constant.min), (vec![7.0], 0.5));
        assert_eq!(histogram(&[]).num, 0.0);
    }
}
