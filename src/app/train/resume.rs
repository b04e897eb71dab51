//! Continuing a run from its checkpoint: the flags may not change what the run was started with
//! (only train more epochs, checkpoint at another cadence or aim at another test accuracy), and
//! an interrupted run says the command that continues it.

use std::path::Path;

use super::args::{RunFlags, FIXED};
use super::job::Job;
use crate::app::data::{color_name, DataArgs};
use crate::app::device::Device;
use crate::app::shell_word;
use crate::data::folder_scan::FolderOptions;
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::train::RunConfig;

/// `setting` (a flag, or a [`RunConfig`] setting named by its flag) given as `now` where the run
/// in `dir` was started with `was`.
fn changed(dir: &Path, setting: &str, now: &str, was: &str) -> Error {
    let flag = RunFlags::flag_for(setting).unwrap_or_else(|| setting.to_string());
    Error::msg(format!(
        "{flag} {now}: the run in {} was started with {was}, and resuming it cannot change that (start a new run with --out, or from its weights with --init-from {})",
        dir.display(),
        dir.display()
    ))
}

/// The settings of the run in `dir` (saved as `saved`, of model `spec`) with the job's applied,
/// or an error naming the first flag that would change it.
pub fn resumed_run(
    job: &Job,
    dir: &Path,
    saved: &RunConfig,
    spec: &ModelSpec,
) -> Result<RunConfig> {
    if let Some(m) = &job.model {
        // A preset is sized for the run's data, as the saved model was.
        let m = crate::model::for_data(m.clone(), spec.input, spec.classes()?);
        if m.to_toml() != spec.to_toml() {
            let was = format!("model `{}`", spec.name);
            return Err(changed(dir, "--model", &m.name, &was));
        }
    }
    if let Some(d) = &job.data.data_dir {
        let now = d.display().to_string();
        if now != saved.data.dir {
            return Err(changed(dir, "--data-dir", &now, &saved.data.dir));
        }
    }
    if let Some(n) = &job.data.dataset {
        let was = saved.data.dataset.clone().unwrap_or_else(|| "none".into());
        if Some(n) != saved.data.dataset.as_ref() {
            return Err(changed(dir, "--dataset", n, &was));
        }
    }
    if let Some(was) = &saved.data.folder {
        same_reading(&job.data, was, dir)?;
    }
    if let Some(n) = job.data.classes.filter(|&n| Some(n) != saved.data.classes) {
        let was = match saved.data.classes {
            Some(c) => format!("--classes {c}"),
            None => format!(
                "{} classes found in the labels",
                saved.data.class_names.len()
            ),
        };
        return Err(changed(dir, "--classes", &n.to_string(), &was));
    }
    let wanted = job.settings.apply(saved.clone());
    for (setting, text) in FIXED {
        let (now, was) = (text(&wanted), text(saved));
        if now != was {
            return Err(changed(dir, setting, &now, &was));
        }
    }
    Ok(wanted)
}

/// Refuses `--image-size` or `--color` given otherwise than the run read its image folder (runs
/// saved before the reading was kept are not checked).
fn same_reading(flags: &DataArgs, was: &FolderOptions, dir: &Path) -> Result<()> {
    if let Some(now @ [h, w]) = flags.image_size {
        if Some(now) != was.image_size {
            let before = was
                .image_size
                .map_or("images at their own size".into(), |[h, w]| {
                    format!("images resized to {h}x{w}")
                });
            return Err(changed(dir, "--image-size", &format!("{h}x{w}"), &before));
        }
    }
    if let Some(now) = flags.color {
        if Some(now) != was.color {
            let before = was.color.map_or("images in their own colours".into(), |c| {
                format!("{} images", color_name(c))
            });
            return Err(changed(dir, "--color", color_name(now), &before));
        }
    }
    Ok(())
}

/// The command that continues the run in `dir` on the same device and kernel family.
pub fn resume_command(job: &Job, device: &Device, dir: &Path) -> String {
    let mut cmd = format!("wgnn{}", device.flag_words());
    cmd += &format!(" train --resume {}", shell_word(&dir.display().to_string()));
    if job.backend != crate::app::BackendKind::Auto {
        cmd += &format!(" --backend {}", job.backend);
    }
    cmd
}
