//! One training run as the command line asks for it: `wgnn train` builds one from its flags,
//! each trial of `wgnn tune` and each model of `wgnn compare --train` from their own. All of
//! them hand it to [`super::train_job`], which layers its settings over the model's defaults or
//! the resumed run's in one place.

use std::path::{Path, PathBuf};

use super::args::TrainArgs;
use crate::app::backend::BackendKind;
use crate::app::data::DataArgs;
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::train::Overrides;

/// Where a run starts from.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// A new run into `out` (None: a new folder under runs/), from fresh weights or from those
    /// of the run in `init_from`.
    New {
        out: Option<PathBuf>,
        init_from: Option<PathBuf>,
    },
    /// The run in this folder, continued from its last checkpoint.
    Resume(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Job {
    /// None: the resumed run's, the `init_from` run's, or convnet.
    pub model: Option<ModelSpec>,
    pub start: Start,
    pub settings: Overrides,
    pub data: DataArgs,
    pub backend: BackendKind,
    /// Also print GPU memory in use after each epoch.
    pub verbose: bool,
    /// Evaluate the test set at the end (a search's trials leave it to the trial it chooses).
    pub evaluate_test: bool,
}

impl Job {
    /// A new run of `model` into `out` with `settings` over the model's defaults.
    pub fn new(model: ModelSpec, out: PathBuf, settings: Overrides, data: DataArgs) -> Self {
        Self {
            model: Some(model),
            start: Start::New {
                out: Some(out),
                init_from: None,
            },
            settings,
            data,
            backend: BackendKind::Auto,
            verbose: false,
            evaluate_test: true,
        }
    }

    /// The run in `dir`, continued exactly as it was started.
    pub fn resume(dir: PathBuf) -> Self {
        Self {
            model: None,
            start: Start::Resume(dir),
            settings: Overrides::default(),
            data: DataArgs::default(),
            backend: BackendKind::Auto,
            verbose: false,
            evaluate_test: true,
        }
    }

    /// The folder of the run being resumed.
    pub fn resumed(&self) -> Option<&Path> {
        match &self.start {
            Start::Resume(dir) => Some(dir),
            Start::New { .. } => None,
        }
    }

    pub fn init_from(&self) -> Option<&Path> {
        match &self.start {
            Start::New { init_from, .. } => init_from.as_deref(),
            Start::Resume(_) => None,
        }
    }
}

impl TrainArgs {
    /// The run these flags ask for, with its model file or preset read.
    pub fn job(&self) -> Result<Job> {
        let start = match (&self.resume, &self.out) {
            (Some(_), Some(_)) => {
                return Err(Error::msg(
                    "--out cannot be given with --resume: the run continues in its own folder",
                ))
            }
            (Some(dir), None) => Start::Resume(dir.clone()),
            (None, out) => Start::New {
                out: out.clone(),
                init_from: self.init_from.clone(),
            },
        };
        let model = self
            .model
            .as_deref()
            .map(crate::model::resolve)
            .transpose()?;
        Ok(Job {
            model,
            start,
            settings: self.run.overrides(),
            data: self.run.data.clone(),
            backend: self.backend,
            verbose: self.verbose,
            evaluate_test: true,
        })
    }
}
