//! Every flag a message names is one the command line has: each `--name` written in the source
//! of the command line (messages, hints, printed commands) is looked up in clap's own help of
//! every subcommand, so a renamed flag cannot leave a message behind.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::run::ok_stdout;
use common::source::{flag_words, rust_files};

/// The long flags clap lists in `wgnn [sub...] --help`.
fn help_flags(words: &[&str]) -> BTreeSet<String> {
    let mut args = words.to_vec();
    args.push("--help");
    let help = ok_stdout(&args);
    help.lines()
        .filter_map(|l| l.trim_start().split("--").nth(1).map(|rest| (l, rest)))
        .filter(|(l, _)| l.trim_start().starts_with('-'))
        .map(|(_, rest)| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            format!("--{name}")
        })
        .collect()
}

/// The subcommands clap lists under "Commands:" in `wgnn [sub...] --help`.
fn subcommands(words: &[&str]) -> Vec<String> {
    let mut args = words.to_vec();
    args.push("--help");
    let help = ok_stdout(&args);
    let Some(list) = help.split("Commands:").nth(1) else {
        return Vec::new();
    };
    list.lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn every_flag_named_in_the_command_lines_source_exists() {
    let mut known = help_flags(&[]);
    let mut pending: Vec<Vec<String>> = subcommands(&[]).into_iter().map(|c| vec![c]).collect();
    while let Some(words) = pending.pop() {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        known.extend(help_flags(&w));
        for sub in subcommands(&w) {
            let mut deeper = words.clone();
            deeper.push(sub);
            pending.push(deeper);
        }
    }
    assert!(
        known.contains("--time-to-accuracy") && known.contains("--kernels"),
        "{known:?}"
    );

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut unknown = Vec::new();
    for file in rust_files(&root.join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            // Comments may name other programs' flags (Keras, cargo); messages may not.
            let code = line.split("//").next().unwrap_or("");
            for flag in flag_words(code) {
                if !known.contains(&flag) {
                    unknown.push(format!("{}:{}: {flag}", file.display(), i + 1));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "flags that wgnn does not have:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn flag_words_are_read_as_messages_write_them() {
    let text = "\"--lr must be > 0\"; use `--backend cpu` or (--epochs N); a--b, x - -y";
    let words: BTreeSet<String> = flag_words(text).into_iter().collect();
    let want: BTreeSet<String> = ["--backend", "--epochs", "--lr"].map(String::from).into();
    assert_eq!(words, want);
}

/// Every setting the training crate refuses is named by its own flag on the command line: the
/// name comes from clap (`RunFlags::flag_for`), and `wgnn train --help` lists it.
#[test]
fn every_refused_setting_is_named_by_its_flag() {
    use wgnn::app::train::RunFlags;
    use wgnn::model::Validation;
    use wgnn::train::RunConfig;
    let ok = RunConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    let bad: Vec<(RunConfig, &str)> = vec![
        (
            RunConfig {
                batch_size: 0,
                ..ok.clone()
            },
            "--batch-size",
        ),
        (
            RunConfig {
                epochs: 0,
                ..ok.clone()
            },
            "--epochs",
        ),
        (
            RunConfig {
                limit: Some(0),
                ..ok.clone()
            },
            "--limit",
        ),
        (
            RunConfig {
                checkpoint_every: Some(0),
                ..ok.clone()
            },
            "--checkpoint-every",
        ),
        (
            RunConfig {
                lr: -1.0,
                ..ok.clone()
            },
            "--lr",
        ),
        (
            RunConfig {
                validation: Validation::Split(1.0),
                ..ok.clone()
            },
            "--validation-split",
        ),
        (
            RunConfig {
                target_accuracy: Some(1.5),
                ..ok.clone()
            },
            "--time-to-accuracy",
        ),
        (
            RunConfig {
                label_smoothing: 1.0,
                ..ok.clone()
            },
            "--label-smoothing",
        ),
        (
            RunConfig {
                weight_decay: f32::NAN,
                ..ok.clone()
            },
            "--weight-decay",
        ),
        (
            RunConfig {
                warmup_epochs: -1.0,
                ..ok.clone()
            },
            "--warmup-epochs",
        ),
        (
            RunConfig {
                ema: Some(1.0),
                ..ok.clone()
            },
            "--ema",
        ),
    ];
    let train_flags = help_flags(&["train"]);
    for (run, want) in bad {
        let e = run.validate().expect_err(want);
        let flag = RunFlags::flag_for(e.setting);
        assert_eq!(flag.as_deref(), Some(want), "the setting {}", e.setting);
        assert!(
            train_flags.contains(want),
            "{want} is not in `wgnn train --help`"
        );
    }
}
