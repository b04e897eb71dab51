//! `wgnn`: train, evaluate, predict and benchmark CNNs on MNIST from the command line.
//! This file only parses flags; the work is in `wgnn::app`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wgnn::app::{self, BackendKind};
use wgnn::model::{resolve, OptimizerKind};
use wgnn::runtime::{AdapterChoice, KernelFamily};

#[derive(Parser)]
#[command(
    name = "wgnn",
    version,
    about = "Train convolutional networks on any GPU with hand-written WGSL kernels"
)]
struct Cli {
    /// GPU adapter to use, by index, name fragment or backend (vulkan, gl, ...; see `wgnn devices`); default: WGNN_ADAPTER, else the fastest
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Kernel family for convolutions and GEMMs on a GPU: tiled (for GPUs), cpu-adapter
    /// (register-blocked, for lavapipe and llvmpipe) or auto (by the adapter's type) [default:
    /// WGNN_KERNELS, else auto]
    #[arg(long, global = true, value_name = "FAMILY", value_parser = ["tiled", "cpu-adapter", "auto"])]
    kernels: Option<String>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters wgpu sees and mark the one used
    Devices,
    /// Print a Keras-style summary of a model
    Summary {
        /// A preset (convnet, cnn, cnn-dropout, cnn-bn, shallow, tiny, deep, fast, best) or a
        /// .toml file
        #[arg(long, default_value = "convnet")]
        model: String,
    },
    /// Train a model, evaluate it on the test set and save the run
    Train {
        /// A preset (convnet, cnn, cnn-dropout, cnn-bn, shallow, tiny, deep, fast, best) or a
        /// .toml file
        /// [default: convnet, or the model of --init-from]
        #[arg(long)]
        model: Option<String>,
        /// Start from the weights of a saved run (a folder written by `train --out`) instead of
        /// a fresh initialisation
        #[arg(long, value_name = "DIR", conflicts_with = "resume")]
        init_from: Option<PathBuf>,
        /// Continue the run in DIR from its last checkpoint, exactly as if it had never stopped
        /// (its model, settings and data come from the checkpoint; --epochs may be raised)
        #[arg(long, value_name = "DIR")]
        resume: Option<PathBuf>,
        /// Also write a checkpoint every N optimizer steps (every epoch ends with one anyway)
        #[arg(long, value_name = "N")]
        checkpoint_every: Option<usize>,
        /// Learning-rate schedule: constant, step:EVERY:GAMMA, exponential:GAMMA, cosine or
        /// onecycle[:MAX_LR] [default: the model's; constant for most presets]
        #[arg(long)]
        schedule: Option<String>,
        /// Ramp the learning rate up linearly over the first F epochs
        #[arg(long, value_name = "F", allow_negative_numbers = true)]
        warmup_epochs: Option<f64>,
        /// Multiply the learning rate by FACTOR (default 0.1) after PATIENCE epochs without
        /// improvement of the monitored value (Keras' ReduceLROnPlateau)
        #[arg(long, value_name = "PATIENCE[,FACTOR]")]
        reduce_lr_on_plateau: Option<String>,
        /// Stop after PATIENCE epochs without an improvement of more than MIN_DELTA (default 0),
        /// and restore the best epoch's weights (Keras' EarlyStopping)
        #[arg(long, value_name = "PATIENCE[,MIN_DELTA]")]
        early_stopping: Option<String>,
        /// What early stopping and reduce-on-plateau watch: val_loss or val_accuracy
        /// [default: val_loss]
        #[arg(long)]
        monitor: Option<String>,
        /// Decoupled weight decay (AdamW-style; Keras 3's `weight_decay`) for any optimizer
        #[arg(long, value_name = "F", allow_negative_numbers = true)]
        weight_decay: Option<f32>,
        /// Train against smoothed labels (Keras' label_smoothing); losses reported for
        /// validation and test stay the plain cross-entropy
        #[arg(long, value_name = "F", allow_negative_numbers = true)]
        label_smoothing: Option<f32>,
        /// Random affine transforms of each training image, drawn per image and step:
        /// shift=PIXELS,rotate=DEGREES,scale=FRACTION (any of them; `none` turns off a model's
        /// default augmentation) [default: the model's; off for most presets]
        #[arg(long, value_name = "shift=2,rotate=10,scale=0.1")]
        augment: Option<String>,
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        batch_size: Option<usize>,
        /// adam, rmsprop or sgd
        #[arg(long)]
        optimizer: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        lr: Option<f32>,
        /// Fraction of the training data (from its end) held out for validation
        #[arg(long, allow_negative_numbers = true)]
        validation_split: Option<f32>,
        /// [default: 42]
        #[arg(long)]
        seed: Option<u64>,
        /// Use only the first N training images
        #[arg(long)]
        limit: Option<usize>,
        /// [default: data/mnist]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// auto, gpu or cpu [default: auto]
        #[arg(long)]
        backend: Option<String>,
        /// Output folder (default: a new folder under runs/)
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also print GPU memory in use after each epoch
        #[arg(long, short)]
        verbose: bool,
        /// Benchmark: evaluate on the test set after each epoch (off the training clock) and stop
        /// once test accuracy reaches this fraction, reporting the training time it took
        #[arg(long, value_name = "ACCURACY")]
        time_to_accuracy: Option<f32>,
    },
    /// Compare finished runs: a table, its Markdown form and the learning curves overlaid in one
    /// PNG; with --train, train the models first on the same data, split and seed
    Compare {
        // Not with --train: checked after parsing, since clap skips the training flags'
        // `requires = "train"` when this argument is declared in conflict with it.
        /// Run folders written by `wgnn train`
        #[arg(value_name = "RUN_DIR")]
        runs: Vec<PathBuf>,
        /// Train these models first (presets or .toml files), each into OUT_DIR/<model>
        #[arg(long, num_args = 1.., value_name = "MODEL")]
        train: Vec<String>,
        /// [default: each model's own]
        #[arg(long, requires = "train")]
        epochs: Option<usize>,
        /// [default: each model's own]
        #[arg(long, requires = "train")]
        batch_size: Option<usize>,
        /// Use only the first N training images
        #[arg(long, requires = "train")]
        limit: Option<usize>,
        /// [default: 42]
        #[arg(long, requires = "train")]
        seed: Option<u64>,
        /// Fraction of the training data (from its end) held out for validation [default: the
        /// models' own, when they agree]
        #[arg(long, requires = "train", allow_negative_numbers = true)]
        validation_split: Option<f32>,
        /// [default: data/mnist]
        #[arg(long, requires = "train")]
        data_dir: Option<PathBuf>,
        /// auto, gpu or cpu [default: auto]
        #[arg(long, requires = "train")]
        backend: Option<String>,
        /// Where the runs go [default: a new runs/compare-<time>]
        #[arg(long, value_name = "DIR", requires = "train")]
        out_dir: Option<PathBuf>,
        /// The plot; the Markdown table is written beside it, as FILE.md [default: compare.png,
        /// or OUT_DIR/compare.png with --train]
        #[arg(long, value_name = "FILE.png")]
        out: Option<PathBuf>,
    },
    /// Search hyperparameters: one training run per trial, chosen by validation accuracy, only the
    /// chosen trial evaluated on the test set; re-running the command continues the search
    Tune {
        /// A preset or a .toml file
        #[arg(long, default_value = "convnet")]
        model: String,
        /// An axis: NAME=V1,V2,... (or NAME=LO..HI, NAME=log:LO..HI with --trials); NAME is a
        /// training flag (lr, batch-size, epochs, optimizer, weight-decay, label-smoothing,
        /// schedule, warmup-epochs, augment, early-stopping) or dropout, filters, units
        #[arg(long, value_name = "NAME=VALUES")]
        grid: Vec<String>,
        /// Draw N random combinations instead of the whole grid
        #[arg(long, value_name = "N")]
        trials: Option<usize>,
        /// [default: the model's]
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Use only the first N training images
        #[arg(long)]
        limit: Option<usize>,
        /// [default: the model's]
        #[arg(long, allow_negative_numbers = true)]
        validation_split: Option<f32>,
        /// [default: data/mnist]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// auto, gpu or cpu [default: auto]
        #[arg(long)]
        backend: Option<String>,
        /// The search's folder: one run folder per trial, results.csv, results.md, results.png
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Run only every N-th trial, starting with the K-th (for a job array over one folder)
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Write the results of the search in DIR (after its shards have run)
        #[arg(long, value_name = "DIR", conflicts_with_all = ["grid", "shard"])]
        collect: Option<PathBuf>,
    },
    /// Test loss, accuracy, confusion matrix, precision and recall of a checkpoint
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value = "data/mnist")]
        data_dir: PathBuf,
        #[arg(long, default_value = "auto")]
        backend: String,
        /// Also write every test image's class probabilities to FILE (float32 .npy, [images, classes])
        #[arg(long, value_name = "FILE")]
        probabilities: Option<PathBuf>,
    },
    /// Write a checkpoint's model and weights as an ONNX graph (opset 15): input `input`
    /// [N, H, W, C] float32 in [0, 1], output `probabilities` [N, classes]
    Export {
        #[arg(long)]
        checkpoint: PathBuf,
        /// The ONNX file to write
        #[arg(long, value_name = "FILE")]
        onnx: PathBuf,
    },
    /// Predict the digit of PNG/JPEG images or test-set images
    Predict {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Image files (any size; dark-on-light images are inverted)
        images: Vec<PathBuf>,
        /// Test-set index (repeatable)
        #[arg(long)]
        index: Vec<usize>,
        #[arg(long, default_value = "data/mnist")]
        data_dir: PathBuf,
        #[arg(long, default_value = "auto")]
        backend: String,
    },
    /// Serve a page to draw digits on, and POST /predict (PNG, JPEG or canvas pixels as JSON),
    /// from one loaded checkpoint
    Serve {
        #[arg(long)]
        checkpoint: PathBuf,
        /// 0 picks a free port (the line printed on start says which)
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on (0.0.0.0: every interface)
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value = "auto")]
        backend: String,
    },
    /// Draw a digit of the data set in the terminal, with its label
    Show {
        #[arg(long)]
        index: usize,
        /// train or test
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value = "data/mnist")]
        data_dir: PathBuf,
    },
    /// Run every kernel against the CPU reference on the adapter (both kernel families unless
    /// --kernels tiled or cpu-adapter names one; odd shapes and the presets' shapes; two training
    /// steps per optimizer) and exit non-zero on any mismatch
    Check {
        /// Smaller cases: the presets' layer shapes at batch 2, fewer odd shapes
        #[arg(long)]
        quick: bool,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Time training steps and print images/s
    Bench {
        #[arg(long, default_value = "convnet")]
        model: String,
        #[arg(long)]
        batch_size: Option<usize>,
        #[arg(long, default_value_t = 50)]
        steps: usize,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        #[arg(long, default_value = "auto")]
        backend: String,
        #[arg(long, default_value = "data/mnist")]
        data_dir: PathBuf,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        /// Break one GPU step down by kernel (GPU timestamps where the adapter has them)
        #[arg(long)]
        profile: bool,
        /// Time each kernel's workgroup variants and the kernel family at the model's shapes on
        /// the adapter (the GPU backend), and store the fastest in the kernel tuning cache
        /// ($WGNN_CACHE_DIR, else $XDG_CACHE_HOME/wgnn, else ~/.cache/wgnn)
        #[arg(long, conflicts_with_all = ["profile", "json"])]
        tune_kernels: bool,
    },
}

fn run(cli: Cli) -> wgnn::Result<ExitCode> {
    if let Some(k) = &cli.kernels {
        // clap has already refused anything but the three names.
        let family = KernelFamily::parse(k)
            .ok_or_else(|| wgnn::Error::msg(format!("--kernels: unknown kernel family `{k}`")))?;
        KernelFamily::set_for_process(family);
    }
    let adapter_flag = cli.adapter.clone();
    let adapter = cli
        .adapter
        .as_deref()
        .map(AdapterChoice::parse)
        .unwrap_or_else(AdapterChoice::from_env);
    // A mistyped adapter fails every command, even one that runs on the CPU (`devices` lists
    // the adapters first).
    if !matches!(cli.command, Command::Devices) {
        wgnn::runtime::check_choice(&adapter)?;
    }
    let done = |r: wgnn::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Devices => done(app::inspect::devices(&adapter)),
        Command::Summary { model } => done(app::inspect::summary(&resolve(&model)?)),
        Command::Train {
            model,
            init_from,
            resume,
            checkpoint_every,
            schedule,
            warmup_epochs,
            reduce_lr_on_plateau,
            early_stopping,
            monitor,
            weight_decay,
            label_smoothing,
            augment,
            epochs,
            batch_size,
            optimizer,
            lr,
            validation_split,
            seed,
            limit,
            data_dir,
            backend,
            out,
            verbose,
            time_to_accuracy,
        } => {
            let model = model.as_deref().map(resolve).transpose()?;
            let optimizer = match optimizer {
                Some(o) => Some(
                    o.parse::<OptimizerKind>()
                        .map_err(|e| wgnn::Error::msg(format!("--optimizer: {e}")))?,
                ),
                None => None,
            };
            let end = app::train::run(app::train::TrainArgs {
                model,
                init_from,
                resume,
                verbose,
                time_to_accuracy,
                epochs,
                batch_size,
                optimizer,
                lr,
                validation_split,
                seed,
                limit,
                data_dir,
                checkpoint_every,
                schedule: schedule.as_deref().map(str::parse).transpose()?,
                warmup_epochs,
                plateau: reduce_lr_on_plateau
                    .as_deref()
                    .map(str::parse)
                    .transpose()?,
                early_stopping: early_stopping.as_deref().map(str::parse).transpose()?,
                monitor: monitor.as_deref().map(str::parse).transpose()?,
                weight_decay,
                label_smoothing,
                augment: augment.as_deref().map(str::parse).transpose()?,
                evaluate_test: true,
                backend: backend.as_deref().unwrap_or("auto").parse()?,
                backend_flag: backend,
                adapter,
                adapter_flag,
                out,
            })?;
            Ok(exit_code(end))
        }
        Command::Tune {
            model,
            grid,
            trials,
            epochs,
            seed,
            limit,
            validation_split,
            data_dir,
            backend,
            out,
            shard,
            collect,
        } => {
            let kind: BackendKind = backend.as_deref().unwrap_or("auto").parse()?;
            if let Some(dir) = collect {
                app::tune::collect(&dir, kind, &adapter)?;
                return Ok(ExitCode::SUCCESS);
            }
            if grid.is_empty() {
                return Err(wgnn::Error::msg(
                    "tune: give at least one --grid NAME=VALUES (e.g. --grid lr=1e-3,3e-4)",
                ));
            }
            let end = app::tune::run(app::tune::TuneArgs {
                model: model.clone(),
                grid: grid
                    .iter()
                    .map(|g| g.parse())
                    .collect::<wgnn::Result<_>>()?,
                trials,
                epochs,
                seed,
                limit,
                validation_split,
                data_dir,
                out: out.unwrap_or_else(|| {
                    let name = std::path::Path::new(&model)
                        .file_stem()
                        .map_or(model.clone(), |s| s.to_string_lossy().into_owned());
                    PathBuf::from("runs").join(format!("tune-{name}"))
                }),
                shard: shard.as_deref().map(app::tune::parse_shard).transpose()?,
                backend: kind,
                backend_flag: backend,
                adapter,
                adapter_flag,
            })?;
            Ok(exit_code(end))
        }
        Command::Compare {
            runs,
            train,
            epochs,
            batch_size,
            limit,
            seed,
            validation_split,
            data_dir,
            backend,
            out_dir,
            out,
        } => {
            if !train.is_empty() && !runs.is_empty() {
                return Err(wgnn::Error::msg(
                    "compare: give run folders or --train MODEL..., not both",
                ));
            }
            if train.is_empty() {
                let out = out.unwrap_or_else(|| PathBuf::from("compare.png"));
                return done(app::compare::compare(&runs, &out));
            }
            let end = app::compare::train_and_compare(app::compare::TrainAll {
                models: train,
                epochs,
                batch_size,
                limit,
                seed,
                validation_split,
                data_dir,
                backend: backend.as_deref().unwrap_or("auto").parse()?,
                backend_flag: backend,
                adapter,
                adapter_flag,
                out_dir,
                out,
            })?;
            Ok(exit_code(end))
        }
        Command::Eval {
            checkpoint,
            data_dir,
            backend,
            probabilities,
        } => done(app::eval::run(
            &checkpoint,
            &data_dir,
            backend.parse()?,
            &adapter,
            probabilities.as_deref(),
        )),
        Command::Export { checkpoint, onnx } => done(app::export::run(&checkpoint, &onnx)),
        Command::Predict {
            checkpoint,
            images,
            index,
            data_dir,
            backend,
        } => {
            let inputs = match (images.is_empty(), index.is_empty()) {
                (false, true) => app::predict::Inputs::Images(images),
                (true, false) => app::predict::Inputs::Indices(index),
                _ => {
                    return Err(wgnn::Error::msg(
                        "predict: give image files or --index N, not both and not neither",
                    ))
                }
            };
            done(app::predict::run(
                &checkpoint,
                inputs,
                &data_dir,
                backend.parse()?,
                &adapter,
            ))
        }
        Command::Serve {
            checkpoint,
            port,
            host,
            backend,
        } => done(app::serve::run(app::serve::ServeArgs {
            checkpoint: &checkpoint,
            host: &host,
            port,
            backend: backend.parse()?,
            adapter: &adapter,
        })),
        Command::Show {
            index,
            split,
            data_dir,
        } => {
            let test = match split.as_str() {
                "train" => false,
                "test" => true,
                _ => {
                    return Err(wgnn::Error::msg(format!(
                        "--split: `{split}` is neither train nor test"
                    )))
                }
            };
            done(app::inspect::show(&data_dir, index, test))
        }
        Command::Check { quick, json } => {
            let passed = app::check::run(app::check::CheckArgs {
                adapter,
                quick,
                json,
            })?;
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench {
            model,
            batch_size,
            steps,
            warmup,
            backend,
            data_dir,
            json,
            profile,
            tune_kernels,
        } => {
            let model = resolve(&model)?;
            let args = app::bench::BenchArgs {
                model: &model,
                batch_size,
                steps,
                warmup,
                backend: backend.parse::<BackendKind>()?,
                adapter,
                data_dir: &data_dir,
                json,
                profile,
            };
            done(match tune_kernels {
                true => app::tune_kernels::run(&args),
                false => app::bench::run(args),
            })
        }
    }
}

/// 0 when the command finished; 130 or 143 when a signal stopped it after a checkpoint.
fn exit_code(end: app::train::TrainEnd) -> ExitCode {
    match end {
        app::train::TrainEnd::Done => ExitCode::SUCCESS,
        app::train::TrainEnd::Interrupted(sig) => ExitCode::from(app::exit_status(sig)),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wgnn: error: {e}");
            ExitCode::FAILURE
        }
    }
}
