//! Training options: learning-rate schedules, reduce-on-plateau, early stopping, weight decay and
//! label smoothing;
//! the formulas by hand, the flag syntax, and end to end through `wgnn train` (the learning rate
//! of every epoch in history.csv, early stopping restoring the best epoch's weights bit for bit).

use std::path::{Path, PathBuf};

mod common;
use common::run::{fails, ok as wgnn, scratch};
use common::with_gpu;
use wgnn::train::{EarlyStop, LrSchedule, Monitor, Plateau, Schedule};

fn sched(schedule: &str, warmup: f64) -> LrSchedule {
    LrSchedule {
        base: 0.01,
        schedule: schedule.parse().unwrap(),
        warmup_epochs: warmup,
        steps_per_epoch: 10,
        epochs: 5,
    }
}

fn close(a: f32, b: f64) -> bool {
    (a as f64 - b).abs() <= 1e-9 + 1e-5 * b.abs()
}

#[test]
fn schedules_by_hand() {
    let c = sched("constant", 0.0);
    assert!((1..=50).all(|t| c.at(t) == 0.01));
    // Steps 1-20 are epochs 1-2, 21-40 epochs 3-4.
    let s = sched("step:2:0.5", 0.0);
    assert_eq!(
        (s.at(1), s.at(20), s.at(21), s.at(41)),
        (0.01, 0.01, 0.005, 0.0025)
    );
    let e = sched("exponential:0.9", 0.0);
    assert!(close(e.at(10), 0.01) && close(e.at(11), 0.009) && close(e.at(31), 0.01 * 0.729));
    let cos = sched("cosine", 0.0);
    assert!(close(cos.at(1), 0.01) && close(cos.at(26), 0.005) && cos.at(50) < 1e-4);
    // One cycle: max/25 at the start, the max at 30% of the run, max/25e4 at the end.
    let one = sched("onecycle:0.1", 0.0);
    assert!(
        close(one.at(1), 0.004) && close(one.at(16), 0.1),
        "{}",
        one.at(16)
    );
    assert!(
        one.at(50) < 5e-4 && one.at(50) > 0.1 / 25e4,
        "{}",
        one.at(50)
    );
    assert!(close(sched("onecycle", 0.0).at(16), 0.01));
    // A one-epoch warm-up ramps to the scheduled value over the first 10 steps.
    let w = sched("constant", 1.0);
    assert!(close(w.at(1), 0.001) && close(w.at(5), 0.005) && close(w.at(10), 0.01));
    assert_eq!(w.at(11), 0.01);
    let wc = sched("cosine", 0.5);
    assert!(close(wc.at(1), 0.01 * 0.2 * 0.5 * (1.0 + 0.0f64.cos())));
}

#[test]
fn flag_syntax_and_clear_errors() {
    assert_eq!(
        "step:3:0.5".parse::<Schedule>().unwrap(),
        Schedule::Step {
            every: 3.0,
            gamma: 0.5
        }
    );
    for s in [
        "constant",
        "cosine",
        "onecycle",
        "onecycle:0.05",
        "exponential:0.95",
        "step:1:0.1",
    ] {
        let parsed: Schedule = s.parse().unwrap();
        assert_eq!(
            parsed.to_string().parse::<Schedule>().unwrap(),
            parsed,
            "{s}"
        );
    }
    for bad in [
        "linear",
        "step:2",
        "step:x:0.5",
        "exponential:-1",
        "onecycle:0",
        "",
    ] {
        let e = bad.parse::<Schedule>().unwrap_err().to_string();
        assert!(
            e.contains(&format!("`{bad}`")) && e.contains("step:EVERY:GAMMA"),
            "{bad}: {e}"
        );
    }
    let p: Plateau = "3".parse().unwrap();
    assert_eq!((p.patience, p.factor, p.min_delta), (3, 0.1, 1e-4));
    assert_eq!("2,0.5".parse::<Plateau>().unwrap().factor, 0.5);
    for bad in ["", "x", "2,1.5", "2,0.5,1"] {
        let e = bad.parse::<Plateau>().unwrap_err().to_string();
        assert!(
            e.contains(&format!("`{bad}`")) && e.contains("PATIENCE[,FACTOR]"),
            "{e}"
        );
    }
    let es: EarlyStop = "4,0.01".parse().unwrap();
    assert_eq!((es.patience, es.min_delta), (4, 0.01));
    assert_eq!("2".parse::<EarlyStop>().unwrap().min_delta, 0.0);
    assert!("2,-1"
        .parse::<EarlyStop>()
        .unwrap_err()
        .to_string()
        .contains("`2,-1`: expected PATIENCE[,MIN_DELTA]"));
    assert_eq!(
        "val_accuracy".parse::<Monitor>().unwrap(),
        Monitor::ValAccuracy
    );
    assert!("loss"
        .parse::<Monitor>()
        .unwrap_err()
        .to_string()
        .contains("`loss`: expected val_loss or val_accuracy"));
    // Lower is better for the loss, higher for the accuracy; the first value always improves.
    assert!(Monitor::ValLoss.improves(0.5, Some(0.6), 0.05));
    assert!(!Monitor::ValLoss.improves(0.58, Some(0.6), 0.05));
    assert!(Monitor::ValAccuracy.improves(0.9, Some(0.8), 0.0));
    assert!(Monitor::ValAccuracy.improves(0.1, None, 0.0));
}

fn tmp(name: &str) -> PathBuf {
    scratch("schedule", name)
}

fn train(flags: &str, out: &Path) -> String {
    let mut args = vec![
        "train",
        "--model",
        "tiny",
        "--limit",
        "1000",
        "--batch-size",
        "50",
    ];
    args.extend(flags.split_whitespace());
    args.extend(["--out", out.to_str().unwrap()]);
    wgnn(&args)
}

/// The `lr` column of a run's history.csv.
fn lrs(dir: &Path) -> Vec<f64> {
    let h = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    assert!(
        h.starts_with("epoch,loss,accuracy,val_loss,val_accuracy,seconds,lr"),
        "{h}"
    );
    h.lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect()
}

fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn the_schedule_reaches_every_step_on_both_backends() {
    for backend in with_gpu(["cpu", "gpu"]) {
        let out = tmp(&format!("step-{backend}"));
        train(
            &format!("--epochs 3 --schedule step:1:0.5 --backend {backend}"),
            &out,
        );
        assert_eq!(lrs(&out), [0.001, 0.0005, 0.00025], "{backend}");
        assert_eq!(metrics(&out)["schedule"], "step:1:0.5");
    }
}

#[test]
fn reduce_on_plateau_lowers_the_rate_after_patience_epochs() {
    // At lr 1e-12 nothing moves: val_loss never improves by Keras' 1e-4 after the first epoch.
    let out = tmp("plateau");
    let o = train(
        "--epochs 4 --lr 1e-12 --reduce-lr-on-plateau 1,0.5 --backend cpu",
        &out,
    );
    assert!(o.contains("learning rate x0.5 from now on"), "{o}");
    let got = lrs(&out);
    let want = [1e-12, 1e-12, 5e-13, 2.5e-13];
    assert!(
        got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-18),
        "{got:?}"
    );
}

#[test]
fn early_stopping_restores_the_best_epoch_bit_for_bit() {
    // An improvement must exceed 0.5 in accuracy: the first epoch is the best, the second stops.
    let out = tmp("early");
    let o = train(
        "--epochs 5 --early-stopping 1,0.5 --monitor val_accuracy --backend cpu",
        &out,
    );
    assert!(o.contains("early stopping after epoch 2"), "{o}");
    assert_eq!(lrs(&out).len(), 2);
    let m = metrics(&out);
    let stopped = &m["early_stopping"]["stopped"];
    assert_eq!(stopped["stopped_epoch"], 2, "{m}");
    assert_eq!(stopped["restored_epoch"], 1, "{m}");
    // The weights are those of epoch 1: the same as a run of one epoch.
    let one = tmp("early-one");
    train("--epochs 1 --backend cpu", &one);
    let weights = |d: &Path| {
        let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut v: Vec<(String, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .filter(|(n, _)| !n.starts_with("train_state."))
            .map(|(n, t)| (n, t.data().to_vec()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(weights(&out), weights(&one));
    // A stopped run is finished.
    let again = wgnn(&[
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(again.contains("already finished"), "{again}");
}

#[test]
fn weight_decay_shrinks_the_weights_and_is_recorded() {
    let norm = |d: &Path| -> f64 {
        let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let k = st.tensor("dense.kernel").unwrap();
        let v: Vec<f32> = bytemuck::pod_collect_to_vec(k.data());
        v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
    };
    let (plain, decayed) = (tmp("wd-plain"), tmp("wd-decayed"));
    train("--epochs 2 --backend cpu", &plain);
    train("--epochs 2 --backend cpu --weight-decay 0.5", &decayed);
    let (a, b) = (norm(&plain), norm(&decayed));
    assert!(
        b < 0.99 * a,
        "dense.kernel norm {a} without decay, {b} with"
    );
    assert_eq!(metrics(&decayed)["weight_decay"], 0.5);
    fails(&["train", "--weight-decay", "-1"], &["--weight-decay"]);
}

#[test]
fn label_smoothing_raises_the_training_loss_but_not_the_reported_validation_loss() {
    let smooth = tmp("ls-smooth");
    train(
        "--epochs 4 --lr 0.005 --backend cpu --label-smoothing 0.2",
        &smooth,
    );
    let h = std::fs::read_to_string(smooth.join("history.csv")).unwrap();
    let last: Vec<f64> = h
        .lines()
        .last()
        .unwrap()
        .split(',')
        .map(|f| f.parse().unwrap())
        .collect();
    // Against targets of 0.82 and 0.02 (x9) no prediction scores below their entropy, 0.867:
    // the training loss is the smoothed one. The validation loss, plain cross-entropy, can be.
    let floor = -(0.82f64 * 0.82f64.ln() + 9.0 * 0.02 * 0.02f64.ln());
    assert!(
        last[1] >= floor - 1e-3,
        "training loss {} below {floor}: {h}",
        last[1]
    );
    assert!(
        last[3] < floor,
        "validation loss {} is not the plain loss: {h}",
        last[3]
    );
    assert_eq!(
        metrics(&smooth)["label_smoothing"].as_f64().unwrap() as f32,
        0.2
    );
    fails(
        &["train", "--label-smoothing", "1.5"],
        &["--label-smoothing"],
    );
}

#[test]
fn augmentation_trains_on_both_backends_and_is_recorded() {
    for backend in with_gpu(["cpu", "gpu"]) {
        let out = tmp(&format!("augment-{backend}"));
        train(
            &format!("--epochs 2 --augment shift=2,rotate=10,scale=0.1 --backend {backend}"),
            &out,
        );
        let m = metrics(&out);
        assert_eq!(m["augment"], "shift=2,rotate=10,scale=0.1", "{m}");
        assert!(m["test_accuracy"].as_f64().unwrap() > 0.3, "{m}");
    }
}
