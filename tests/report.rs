use wgnn::report::{confusion_png, confusion_png_named, curves_png, Confusion};
use wgnn::train::{EpochRecord, History};
use wgnn::util::fs::write_atomic;

#[test]
fn confusion_counts_and_metrics() {
    let labels: [u8; 8] = [0, 0, 0, 1, 1, 2, 2, 2];
    let preds: [u32; 8] = [0, 0, 1, 1, 1, 2, 0, 2];
    let c = Confusion::from_predictions(&labels, &preds, 3).unwrap();
    assert_eq!(c.counts, vec![2, 1, 0, 0, 2, 0, 1, 0, 2]);
    assert_eq!(c.total(), 8);
    assert_eq!(c.correct(), 6);
    assert!((c.accuracy() - 0.75).abs() < 1e-12);
    assert!((c.precision(0) - 2.0 / 3.0).abs() < 1e-12);
    assert!((c.recall(0) - 2.0 / 3.0).abs() < 1e-12);
    assert!((c.precision(1) - 2.0 / 3.0).abs() < 1e-12);
    assert!((c.recall(1) - 1.0).abs() < 1e-12);
    assert!((c.precision(2) - 1.0).abs() < 1e-12);
    assert!((c.recall(2) - 2.0 / 3.0).abs() < 1e-12);
    let t = c.table();
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].contains("true\\pred")
            && lines[0].contains("precision")
            && lines[0].contains("recall")
    );
    assert_eq!(lines[2], "        0   2   1   0 |    66.67%  66.67%");
    assert_eq!(lines[3], "        1   0   2   0 |    66.67%  100.00%");
    assert!(
        lines[5].contains("75.00%") && lines[5].contains("6 of 8"),
        "{t}"
    );

    // Empty classes give 0, not NaN.
    let c = Confusion::from_predictions(&[0u8], &[0u8], 2).unwrap();
    assert_eq!(c.precision(1), 0.0);
    assert_eq!(c.recall(1), 0.0);

    let e = Confusion::from_predictions(&[0u8, 1], &[0u8], 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 labels but 1 predictions"), "{e}");
    let e = Confusion::from_predictions(&[0u8, 5], &[0u8, 1], 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("label at index 1"), "{e}");
}

fn history() -> History {
    History {
        records: (1..=6)
            .map(|e| EpochRecord {
                epoch: e,
                loss: 0.5 / e as f32,
                accuracy: 0.85 + 0.02 * e as f32,
                val_loss: Some(0.45 / e as f32 + 0.01),
                val_accuracy: Some(0.86 + 0.018 * e as f32),
                seconds: 3.25 + e as f64,
                lr: Some(0.001 / e as f32),
            })
            .collect(),
    }
}

#[test]
fn history_csv_round_trip() {
    let mut h = history();
    h.records[5].val_loss = None;
    h.records[5].val_accuracy = None;
    let csv = h.to_csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,loss,accuracy,val_loss,val_accuracy,seconds,lr")
    );
    assert_eq!(lines.next(), Some("1,0.5,0.87,0.45999998,0.878,4.25,0.001"));
    assert_eq!(
        csv.lines().last(),
        Some("6,0.083333336,0.97,,,9.25,0.00016666668")
    );
    assert_eq!(History::from_csv(&csv).unwrap(), h);
    // Histories written before the learning rate was recorded still load.
    let old = History::from_csv(
        "epoch,loss,accuracy,val_loss,val_accuracy,seconds
1,0.5,0.87,,,4.25
",
    )
    .unwrap();
    assert_eq!(old.records[0].lr, None);
    assert_eq!(old.records[0].loss, 0.5);

    let e = History::from_csv("epoch,loss\n").unwrap_err().to_string();
    assert!(e.contains("header"), "{e}");
    let e = History::from_csv(&format!(
        "{}\n1,x,0.5,,,1,0.1\n",
        wgnn::train::history::CSV_HEADER
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 2") && e.contains("loss"), "{e}");
}

fn png_size(path: &std::path::Path) -> (u32, u32) {
    let img = image::open(path).unwrap();
    (img.width(), img.height())
}

#[test]
fn plots_are_written_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("curves.png");
    curves_png(&history(), &p).unwrap();
    // Loss, accuracy and learning rate.
    assert_eq!(png_size(&p), (2100, 560));
    let img = image::open(&p).unwrap().to_rgb8();
    // Both line colours are present.
    assert!(img.pixels().any(|px| px.0 == [31, 119, 180]));
    assert!(img.pixels().any(|px| px.0 == [255, 127, 14]));

    // No validation, single epoch.
    let mut h = history();
    h.records.truncate(1);
    h.records[0].val_loss = None;
    h.records[0].val_accuracy = None;
    curves_png(&h, &dir.path().join("one.png")).unwrap();
    // Histories written before the learning rate was kept have no third panel.
    let mut old = history();
    old.records.iter_mut().for_each(|r| r.lr = None);
    curves_png(&old, &dir.path().join("old.png")).unwrap();
    assert_eq!(png_size(&dir.path().join("old.png")), (1400, 560));
    assert!(curves_png(&History::default(), &dir.path().join("none.png")).is_err());

    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let preds: Vec<u8> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| if i % 37 == 0 { (l + 1) % 10 } else { l })
        .collect();
    let c = Confusion::from_predictions(&labels, &preds, 10).unwrap();
    let p = dir.path().join("confusion.png");
    confusion_png(&c, &p).unwrap();
    let (w, h) = png_size(&p);
    assert!(w >= 600 && h >= 600, "{w}x{h}");
    // Rows named by class widen the left margin for the names; digit names change nothing.
    let names = wgnn::data::catalog::find("fashion-mnist")
        .unwrap()
        .names()
        .unwrap();
    let named = dir.path().join("named.png");
    confusion_png_named(&c, &names, &named).unwrap();
    let (wn, hn) = png_size(&named);
    assert!(wn > w && hn == h, "{wn}x{hn} against {w}x{h}");
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    confusion_png_named(&c, &digits, &named).unwrap();
    assert_eq!(png_size(&named), (w, h));

    if let Ok(keep) = std::env::var("WGNN_KEEP_PLOTS") {
        let keep = std::path::Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        curves_png(&history(), &keep.join("curves.png")).unwrap();
        confusion_png(&c, &keep.join("confusion.png")).unwrap();
    }
}

#[test]
fn write_atomic_replaces_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/dir/out.txt");
    write_atomic(&p, b"first").unwrap();
    write_atomic(&p, b"second").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"second");
    let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("out.txt")]);
    // Writing over a directory fails and names the path.
    let e = write_atomic(dir.path().join("sub").as_path(), b"x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sub"), "{e}");
}
