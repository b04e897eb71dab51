//! Training that survives: a run interrupted by Ctrl-C, SIGTERM or SIGKILL at any moment resumes
//! to parameters bit-identical to an uninterrupted run; what was saved always loads; flags that
//! would change a resumed run are refused; divergence stops with the last good checkpoint kept.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::run::{command as wgnn_cmd, fails, ok, scratch, text};
use common::{has_gpu, with_gpu};
use safetensors::SafeTensors;
use wgnn::util::rng::Rng;

fn tmp(name: &str) -> PathBuf {
    scratch("resume", name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every tensor of a run's checkpoint (weights and training state), by name.
fn tensors(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect()
}

fn assert_same_tensors(what: &str, a: &Path, b: &Path) {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "{what}: tensor names"
    );
    assert!(ta.keys().any(|k| k.starts_with("train_state.")), "{what}");
    for (k, v) in &ta {
        assert!(v == &tb[k], "{what}: tensor `{k}` differs");
    }
}

/// history.csv minus the seconds column (wall time is the one thing allowed to differ).
fn history_without_time(dir: &Path) -> Vec<String> {
    let h = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    h.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(5);
            f.join(",")
        })
        .collect()
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill {sig}");
}

/// Waits until the run in `dir` has checkpointed at least `epochs` whole epochs (or ended).
fn wait_for_epochs(child: &mut Child, dir: &Path, epochs: usize) {
    let start = Instant::now();
    loop {
        let done = std::fs::read_to_string(dir.join("history.csv"))
            .map(|h| h.lines().count() > epochs)
            .unwrap_or(false);
        if done || child.try_wait().unwrap().is_some() {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no epoch ended");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(args: &[&str]) -> Child {
    wgnn_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

const RUN: &str = "--model tiny --limit 4000 --batch-size 32";
/// Three epochs of 100 steps, with checkpoints every 11 steps.
const THREE: &str = "--epochs 3 --checkpoint-every 11";

fn run_args<'a>(extra: &'a str, out: &'a Path) -> Vec<&'a str> {
    let mut v: Vec<&str> = vec!["train"];
    v.extend(RUN.split_whitespace());
    v.extend(extra.split_whitespace());
    v.extend(["--out", s(out)]);
    v
}

/// Interrupt a run with `sig` after its first epoch, check the exit status and the printed
/// command, resume it with that command, and compare with an uninterrupted run.
fn interrupt_and_resume(backend: &str, sig: &str, status: i32) {
    interrupt_and_resume_with("", backend, sig, status);
}

/// `interrupt_and_resume` of a run with the training flags `flags` besides the usual ones; the
/// resumed run's folder.
fn interrupt_and_resume_with(flags: &str, backend: &str, sig: &str, status: i32) -> PathBuf {
    let extra = format!("{THREE} --backend {backend} {flags}");
    let tag = flags.replace(['-', ' ', '.'], "");
    let whole = tmp(&format!("whole-{backend}-{status}{tag}"));
    ok(&run_args(&extra, &whole));
    let dir = tmp(&format!("cut-{backend}-{status}{tag}"));
    let mut child = spawn(&run_args(&extra, &dir));
    wait_for_epochs(&mut child, &dir, 1);
    signal(&child, sig);
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(status), "{t}");
    let cmd = format!("wgnn train --resume {} --backend {backend}", s(&dir));
    assert!(t.contains(&format!("Resume it with: {cmd}")), "{t}");
    // The checkpoint it left is complete: eval loads it.
    ok(&["eval", "--checkpoint", s(&dir), "--backend", backend]);
    let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    let r = ok(&args);
    assert!(r.contains("Resuming `tiny`"), "{r}");
    assert_same_tensors(&format!("{backend} after {sig}"), &whole, &dir);
    assert_eq!(history_without_time(&whole), history_without_time(&dir));
    // Resuming a finished run says so.
    let again = ok(&args);
    assert!(again.contains("already finished its 3 epochs"), "{again}");
    dir
}

#[test]
fn ctrl_c_then_resume_is_bit_identical_on_the_cpu_backend() {
    interrupt_and_resume("cpu", "-INT", 130);
}

#[test]
fn sigterm_then_resume_is_bit_identical_on_the_cpu_backend() {
    interrupt_and_resume("cpu", "-TERM", 143);
}

#[test]
fn ctrl_c_then_resume_is_bit_identical_on_the_gpu() {
    if !has_gpu() {
        return;
    }
    interrupt_and_resume("gpu", "-INT", 130);
}

/// The moving average is part of the state: it is saved (the plain names hold it, the trained
/// weights sit under `train_state.weights.`) and a resumed run continues it to the same bits.
fn resume_with_a_moving_average(backend: &str) {
    let dir = interrupt_and_resume_with("--ema 0.9", backend, "-INT", 130);
    let t = tensors(&dir);
    let trained = t.keys().filter(|k| k.starts_with("train_state.weights."));
    assert_eq!(trained.count(), 8, "{:?}", t.keys());
    assert_ne!(
        t["dense.kernel"], t["train_state.weights.dense.kernel"],
        "the saved weights are the average, not the trained weights"
    );
}

#[test]
fn ctrl_c_then_resume_with_a_moving_average_is_bit_identical_on_the_cpu_backend() {
    resume_with_a_moving_average("cpu");
}

#[test]
fn ctrl_c_then_resume_with_a_moving_average_is_bit_identical_on_the_gpu() {
    if !has_gpu() {
        return;
    }
    resume_with_a_moving_average("gpu");
}

#[test]
fn raising_epochs_trains_on_exactly() {
    let whole = tmp("epochs-whole");
    ok(&run_args(&format!("{THREE} --backend cpu"), &whole));
    let dir = tmp("epochs-part");
    ok(&run_args(
        "--epochs 1 --checkpoint-every 11 --backend cpu",
        &dir,
    ));
    ok(&[
        "train",
        "--resume",
        s(&dir),
        "--epochs",
        "3",
        "--backend",
        "cpu",
    ]);
    assert_same_tensors("1 + 2 epochs", &whole, &dir);
    assert_eq!(history_without_time(&whole), history_without_time(&dir));
    fails(
        &["train", "--resume", s(&dir), "--epochs", "2"],
        &["--epochs 2", "already trained 3 epochs"],
    );
}

#[test]
fn resuming_on_other_images_is_refused() {
    let data = tmp("changed-data");
    std::fs::create_dir_all(&data).unwrap();
    for f in std::fs::read_dir("data/mnist").unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, data.join(f.file_name().unwrap())).unwrap();
    }
    let dir = tmp("changed-run");
    let (d, o) = (s(&data), s(&dir));
    let common = ["--model", "tiny", "--limit", "300", "--batch-size", "50"];
    ok(&[
        &["train", "--epochs", "1", "--backend", "cpu"][..],
        &common,
        &["--data-dir", d, "--out", o],
    ]
    .concat());
    // The same folder, one pixel of the first training image changed (stored raw, not gzipped).
    let gz = data.join("train-images-idx3-ubyte.gz");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    raw[16 + 14 * 28 + 14] ^= 0xff;
    std::fs::remove_file(&gz).unwrap();
    std::fs::write(data.join("train-images-idx3-ubyte"), raw).unwrap();
    fails(
        &["train", "--resume", o, "--epochs", "2", "--backend", "cpu"],
        &[d, "these are not the images the run in", o],
    );
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_the_checkpoint_still_loads() {
    // Steps of most of a second (4096 images of convnet on the CPU backend; a few hundred ms
    // even on a fast machine): the second signal arrives while the first waits for the step to
    // end.
    let dir = tmp("double");
    let child = spawn(&[
        "train",
        "--model",
        "convnet",
        "--batch-size",
        "4096",
        "--limit",
        "32768",
        "--validation-split",
        "0",
        "--epochs",
        "50",
        "--backend",
        "cpu",
        "--out",
        s(&dir),
    ]);
    let start = Instant::now();
    while !dir.join("model.safetensors").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no first checkpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let both = Command::new("sh")
        // Apart, or the kernel delivers the two as one.
        .args([
            "-c",
            &format!("kill -INT {0}; sleep 0.02; kill -INT {0}", child.id()),
        ])
        .status()
        .unwrap();
    assert!(both.success());
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(130), "{t}");
    assert!(
        !t.contains("saved the run"),
        "the second Ctrl-C did not exit at once: {t}"
    );
    ok(&["eval", "--checkpoint", s(&dir), "--backend", "cpu"]);
}

/// A point in a run's progress at which to SIGKILL it.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// As soon as the process exists: before it has read its data.
    Spawned,
    /// When it prints its first line (`Training ...` or `Resuming ...`): its data (and a resumed
    /// run's checkpoint) read, the backend built, no step taken yet.
    FirstLine,
    /// Once its checkpoint holds at least this many optimizer steps: somewhere in the steps,
    /// validation or checkpoint write that follow.
    Checkpointed(u64),
}

/// Runs `wgnn ARGS` (a run in `dir`) and SIGKILLs it at `at`. True if the kill ended it; false if
/// it finished first (it must then have succeeded). Which it is depends only on how far the run
/// got, never on how long it took: waiting is a poll of the checkpoint's header.
fn kill_at(args: &[&str], dir: &Path, at: KillAt) -> bool {
    let mut child = spawn(args);
    match at {
        KillAt::Spawned => {}
        KillAt::FirstLine => {
            // EOF (a run that failed at once) falls through to the exit status below.
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let _ = out.read_line(&mut String::new());
            child.stdout = Some(out.into_inner());
        }
        KillAt::Checkpointed(steps) => {
            while common::run::checkpointed_steps(dir).is_none_or(|t| t < steps)
                && child.try_wait().unwrap().is_none()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // Harmless when it has already exited: the status below tells which happened.
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    if o.status.signal() == Some(9 /* SIGKILL */) {
        return true;
    }
    assert!(o.status.success(), "wgnn {args:?}: {}", text(&o));
    false
}

/// SIGKILL at random moments (fixed seed), chosen from the run's progress rather than the clock,
/// so that they fall the same way on any machine: as the process starts (before the first
/// checkpoint), as it begins to train, after a checkpoint holding a drawn number of steps, and
/// after the last checkpoint (in the final test evaluation and report, if it is still running).
/// After every kill the folder's checkpoint loads, and resuming completes the run with the same
/// parameters and history as a run that was never killed.
#[test]
fn sigkill_at_random_moments_loses_nothing() {
    // 4 epochs of 100 steps: a checkpoint before the first step, then whenever the step count
    // is a multiple of 7 and at each epoch's end (100, 200, 300, 400).
    let flags = "--backend cpu --epochs 4 --checkpoint-every 7";
    const STEPS: u64 = 400;
    // Drawn step counts stop here, well before the end: such a kill misses only if the run does
    // its last 60-odd steps and its evaluations between two polls of its checkpoint, 1 ms apart.
    const LAST_DRAWN: u64 = 330;
    let whole = tmp("kill-whole");
    ok(&run_args(flags, &whole));
    let mut rng = Rng::new(2026);
    let (mut kills, mut readable, mut resumes, mut before_first) = (0, 0, 0, 0);
    let (mut rounds, mut outran) = (0, Vec::new());
    let mut seen = BTreeMap::<String, usize>::new();
    while kills < 24 {
        let dir = tmp(&format!("kill-{rounds}"));
        assert!(rounds < 12, "runs kept finishing before they were killed");
        let mut attempt = 0;
        loop {
            let saved = common::run::checkpointed_steps(&dir);
            let resuming = saved.is_some();
            if saved == Some(STEPS) || kills >= 24 {
                // Trained to the end (or enough kills): finish it without a kill.
                break;
            }
            let at = match saved {
                // Each run's first start: as soon as it exists, or (every other run) once it
                // has printed its first line.
                None if attempt == 0 && rounds % 2 == 0 => KillAt::Spawned,
                None if attempt == 0 => KillAt::FirstLine,
                Some(_) if rng.below(5) == 0 => KillAt::FirstLine,
                Some(t) if t >= LAST_DRAWN => KillAt::Checkpointed(STEPS),
                steps => {
                    let from = steps.map_or(1, |t| t + 1);
                    KillAt::Checkpointed((from + rng.below(50) as u64).min(LAST_DRAWN))
                }
            };
            attempt += 1;
            let args: Vec<&str> = if resuming {
                vec!["train", "--resume", s(&dir), "--backend", "cpu"]
            } else {
                run_args(flags, &dir)
            };
            if !kill_at(&args, &dir, at) {
                // It finished first (as a kill after the last checkpoint may well find): the run
                // is complete, and is compared below.
                outran.push(format!("{at:?}"));
                break;
            }
            kills += 1;
            resumes += usize::from(resuming);
            let kind = match at {
                KillAt::Checkpointed(STEPS) => "after the last checkpoint".into(),
                KillAt::Checkpointed(_) => "after a drawn checkpoint".into(),
                at => format!("{at:?}"),
            };
            *seen.entry(kind).or_default() += 1;
            if dir.join("model.safetensors").exists() {
                let e = ok(&["eval", "--checkpoint", s(&dir), "--backend", "cpu"]);
                assert!(e.contains("test accuracy"), "{e}");
                readable += 1;
            } else {
                // Killed before the run wrote its first checkpoint: nothing was saved yet.
                before_first += 1;
            }
        }
        rounds += 1;
        // Finish the interrupted run and compare it with the one never killed.
        if !dir.join("metrics.json").is_file() {
            ok(&["train", "--resume", s(&dir), "--backend", "cpu"]);
        }
        assert_same_tensors(&format!("after SIGKILLs, run {rounds}"), &whole, &dir);
        assert_eq!(history_without_time(&whole), history_without_time(&dir));
    }
    eprintln!(
        "{kills} kills ({resumes} of them during a resumed run; {seen:?}): {readable} left a checkpoint that eval loaded, {before_first} came before the first checkpoint; {rounds} runs; finished before the kill: {outran:?}"
    );
    assert_eq!(readable + before_first, kills);
    assert!(
        before_first >= 1,
        "no kill came before the first checkpoint"
    );
    assert!(resumes >= 10, "only {resumes} kills hit a resumed run");
}

#[test]
fn resuming_with_a_flag_that_changes_the_run_names_the_flag() {
    let dir = tmp("flags");
    ok(&run_args("--epochs 1 --backend cpu", &dir));
    let d = s(&dir);
    for (flag, value) in [
        ("--model", "convnet"),
        ("--batch-size", "64"),
        ("--optimizer", "sgd"),
        ("--lr", "0.01"),
        ("--seed", "7"),
        ("--limit", "3000"),
        ("--validation-split", "0.5"),
        ("--data-dir", "/nonexistent/mnist"),
        ("--schedule", "cosine"),
        ("--weight-decay", "0.1"),
        ("--label-smoothing", "0.1"),
        ("--augment", "shift=2"),
        ("--early-stopping", "3"),
        ("--image-size", "16x16"),
        ("--color", "rgb"),
    ] {
        fails(
            &["train", "--resume", d, flag, value, "--epochs", "2"],
            &[flag, value],
        );
    }
    // The values it was started with are no change.
    let same = ok(&[
        "train",
        "--resume",
        d,
        "--model",
        "tiny",
        "--batch-size",
        "32",
        "--limit",
        "4000",
    ]);
    assert!(same.contains("already finished its 1 epoch;"), "{same}");
    fails(&["train", "--resume", d, "--out", "/tmp/x"], &["--out"]);
    // Not a run, a corrupt checkpoint, a foreign safetensors file, a weights-only one.
    let empty = tmp("flags-empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails(
        &["train", "--resume", s(&empty)],
        &[s(&empty), "not a wgnn run"],
    );
    fails(
        &["train", "--resume", "/nonexistent/run"],
        &["/nonexistent/run"],
    );
    let bad = tmp("flags-bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("model.safetensors"), b"garbage").unwrap();
    fails(
        &["train", "--resume", s(&bad)],
        &["model.safetensors", "not a valid safetensors"],
    );
    let foreign = safetensors::serialize(
        [(
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0u8; 4])
                .unwrap(),
        )],
        None,
    )
    .unwrap();
    std::fs::write(bad.join("model.safetensors"), foreign).unwrap();
    fails(
        &["train", "--resume", s(&bad)],
        &["model.safetensors", "not a wgnn checkpoint"],
    );
    // A new run never overwrites a folder that holds one.
    fails(
        &["train", "--model", "tiny", "--out", d],
        &["already holds a run", "--resume"],
    );
}

#[test]
fn divergence_stops_with_the_epoch_and_step_and_keeps_the_last_good_checkpoint() {
    for backend in with_gpu(["cpu", "gpu"]) {
        let dir = tmp(&format!("diverge-{backend}"));
        let t = fails(
            &[
                "train",
                "--model",
                "tiny",
                "--limit",
                "640",
                "--batch-size",
                "32",
                "--epochs",
                "2",
                "--lr",
                "1e30",
                "--backend",
                backend,
                "--out",
                s(&dir),
            ],
            &[
                "training diverged in epoch 1",
                "by step",
                "last good checkpoint",
            ],
        );
        assert!(!t.contains("Saved the model"), "{t}");
        // The checkpoint written before training is intact and finite.
        ok(&["eval", "--checkpoint", s(&dir), "--backend", "cpu"]);
    }
}
