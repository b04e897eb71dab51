//! `wgnn`: train, evaluate, predict and benchmark CNNs on MNIST from the command line. Each
//! command's flags are a typed struct of `wgnn::app`; this file only dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wgnn::app::{self, train::TrainEnd, Device, DeviceArgs};

#[derive(Parser)]
#[command(
    name = "wgnn",
    version,
    about = "Train convolutional networks on any GPU with hand-written WGSL kernels"
)]
struct Cli {
    #[command(flatten)]
    device: DeviceArgs,
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
        /// Size a preset's input for this dataset's images (cifar10: 32x32x3)
        #[arg(long, value_name = "NAME", value_parser = app::data::parse_dataset)]
        dataset: Option<String>,
    },
    /// The datasets wgnn knows by name: list them, download them, print where they are
    Data {
        #[command(subcommand)]
        command: app::data::DataCommand,
    },
    /// Train a model, evaluate it on the test set and save the run
    Train(app::train::TrainArgs),
    /// Compare finished runs: a table, its Markdown form and the learning curves overlaid in one
    /// PNG; with --train, train the models first on the same data, split and seed
    Compare(app::compare::CompareArgs),
    /// Search hyperparameters: one training run per trial, chosen by validation accuracy, only the
    /// chosen trial evaluated on the test set; re-running the command continues the search
    Tune(app::tune::TuneArgs),
    /// Test loss, accuracy, confusion matrix, precision and recall of a checkpoint
    Eval(app::eval::EvalArgs),
    /// Write a checkpoint's model and weights as an ONNX graph (opset 15): input `input`
    /// [N, H, W, C] float32 in [0, 1], output `probabilities` [N, classes]
    Export {
        #[arg(long)]
        checkpoint: PathBuf,
        /// The ONNX file to write
        #[arg(long, value_name = "FILE")]
        onnx: PathBuf,
    },
    /// Predict the class of PNG/JPEG images, test-set images or the rows of a CSV file (writing
    /// Kaggle's submission file)
    Predict(app::predict::PredictArgs),
    /// Serve a page to draw digits on, and POST /predict (PNG, JPEG or canvas pixels as JSON),
    /// from one loaded checkpoint
    Serve(app::serve::ServeArgs),
    /// Draw an image of the data set in the terminal (colour ones in 24-bit terminal colours),
    /// with its label and class name
    Show(app::inspect::ShowArgs),
    /// Run every kernel against the CPU reference on the adapter (both kernel families unless
    /// --kernels blocked or tiled names one; odd shapes and the presets' shapes; two training
    /// steps per optimizer) and exit non-zero on any mismatch
    Check(app::check::CheckArgs),
    /// Time training steps and print images/s
    Bench(app::bench::BenchArgs),
    /// One training step dispatch by dispatch (invocations, serial loop, bytes, FLOPs) with its
    /// predicted time on a reference GPU; needs no GPU
    Plan(app::plan::PlanArgs),
}

fn run(cli: Cli) -> wgnn::Result<ExitCode> {
    let device = cli.device.resolve()?;
    // A mistyped adapter fails every command, even one that runs on the CPU (`devices` lists
    // the adapters first).
    if !matches!(cli.command, Command::Devices) {
        wgnn::runtime::check_choice(&device.options.adapter)?;
    }
    dispatch(cli.command, &device)
}

fn dispatch(command: Command, device: &Device) -> wgnn::Result<ExitCode> {
    let done = |r: wgnn::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match command {
        Command::Devices => done(app::inspect::devices(device)),
        Command::Summary { model, dataset } => {
            done(app::inspect::summary(&model, dataset.as_deref()))
        }
        Command::Data { command } => done(app::data::command(&command)),
        Command::Train(a) => app::train::run(&a, device).map(exit_code),
        Command::Compare(a) => app::compare::command(&a, device).map(exit_code),
        Command::Tune(a) => app::tune::command(&a, device).map(exit_code),
        Command::Eval(a) => done(app::eval::run(&a, device)),
        Command::Export { checkpoint, onnx } => done(app::export::run(&checkpoint, &onnx)),
        Command::Predict(a) => done(app::predict::run(&a, device)),
        Command::Serve(a) => done(app::serve::run(&a, device)),
        Command::Show(a) => done(app::inspect::show(&a)),
        Command::Check(a) => Ok(match app::check::run(&a, device)? {
            true => ExitCode::SUCCESS,
            false => ExitCode::FAILURE,
        }),
        Command::Bench(a) => done(app::bench::run(&a, device)),
        Command::Plan(a) => done(app::plan::run(&a, device)),
    }
}

/// 0 when the command finished; 130 or 143 when a signal stopped it after a checkpoint.
fn exit_code(end: TrainEnd) -> ExitCode {
    match end {
        TrainEnd::Done => ExitCode::SUCCESS,
        TrainEnd::Interrupted(sig) => ExitCode::from(app::exit_status(sig)),
    }
}

fn main() -> ExitCode {
    // The CPU backend frees and reallocates the same large tensors every step: a process-wide
    // allocator setting, so the process (not the library) makes it.
    wgnn::util::malloc::keep_freed_memory();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        wgnn::util::pipe::exit_on_broken_pipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e @ wgnn::Error::NoAdapter(_)) => {
            eprintln!("wgnn: error: {e}; or train on the CPU backend with `--backend cpu`");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("wgnn: error: {e}");
            ExitCode::FAILURE
        }
    }
}
