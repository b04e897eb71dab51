//! What the compiler does not check about the layers (docs/architecture.md).
//!
//! The crates keep their own order: `wgnn-engine` cannot name `wgnn-data`, nor either of them the
//! command line. Three things remain for this test:
//! - which crates each library crate depends on at all (`cargo tree`): none of the command line's
//!   (clap, the HTTP server, progress bars), and the engine none of the data's or the reports'
//!   (an HTTP client, image decoders, plots);
//! - the order of the modules inside a crate (the engine's util → runtime → ops → layers → graph
//!   → model → check; the data crate's plain types and the pack → the file readers → what a
//!   path holds → cache and download → image folders → reading any format; the training crate's
//!   loop before its reports), read from every path that names a module: `crate::`, `super::`
//!   chains resolved from the file's place, `use` groups over several lines, and names the crate
//!   root re-exports, taken as the module they come from; `crate as` renames are refused
//!   outright;
//! - the library crates read no environment variable and name no command-line flag: the command
//!   line turns those into values.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::source::{flag_words, rust_files};

/// A library crate: its folder and its module layers, lowest first (modules of one layer may use
/// each other; a crate with no layers is checked for the environment and flags only).
struct Crate {
    dir: &'static str,
    layers: &'static [&'static [&'static str]],
}

const CRATES: &[Crate] = &[
    Crate {
        dir: "crates/engine",
        layers: &[
            &["error", "util"],
            &["runtime"],
            &["ops", "onnx"],
            &["layers"],
            &["graph"],
            &["model"],
            &["check"],
        ],
    },
    Crate {
        dir: "crates/data",
        layers: &[
            &[
                "ascii",
                "catalog",
                "csv",
                "dataset",
                "folder_scan",
                "image",
                "pickle",
                "progress",
            ],
            &["cifar", "packed"],
            &["idx", "npz"],
            &["format"],
            &["cache", "download", "locate"],
            &["folder_cache"],
            &["folder"],
            &["formats"],
        ],
    },
    Crate {
        dir: "crates/train",
        layers: &[
            &[
                "checkpoint",
                "fit",
                "history",
                "overrides",
                "state",
                "validate",
                "watch",
            ],
            &["events", "report"],
        ],
    },
];

/// The crates each library crate may not depend on, even through another crate.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "wgnn-engine",
        &[
            "clap",
            "tiny_http",
            "indicatif",
            "signal-hook",
            "dirs",
            "ureq",
            "image",
            "plotters",
            "wgnn-data",
            "wgnn-train",
        ],
    ),
    (
        "wgnn-data",
        &[
            "clap",
            "tiny_http",
            "indicatif",
            "signal-hook",
            "dirs",
            "plotters",
            "wgnn-train",
        ],
    ),
    (
        "wgnn-train",
        &["clap", "tiny_http", "indicatif", "signal-hook", "dirs"],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The module path of a file of `src/` (`graph/plan.rs` → ["graph", "plan"], `ops/mod.rs` →
/// ["ops"], `lib.rs` → []).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.strip_suffix(".rs").unwrap_or(&last);
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// `text` without comments (doc comments are prose, not imports), one string per line.
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let mut out = String::new();
        let mut rest = line;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(at) => {
                        rest = &rest[at + 2..];
                        in_block = false;
                    }
                    None => break,
                }
            } else {
                let block = rest.find("/*");
                let comment = rest.find("//");
                match (block, comment) {
                    (Some(b), c) if c.is_none_or(|c| b < c) => {
                        out.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_block = true;
                    }
                    (_, Some(c)) => {
                        out.push_str(&rest[..c]);
                        break;
                    }
                    _ => {
                        out.push_str(rest);
                        break;
                    }
                }
            }
        }
        lines.push(out);
    }
    lines
}

fn ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top module each module path in `code` leads to, with its 1-based line: `crate::NAME`,
/// `super::...::NAME` resolved from `here`, and each first name of a `crate::{...}` or
/// `super::{...}` group (which may span lines).
fn module_uses(code: &[String], here: &[String]) -> Vec<(usize, String)> {
    let joined: String = code.join("\n");
    let line_of = |at: usize| joined[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    let bytes = joined.as_bytes();
    let mut at = 0;
    while at < joined.len() {
        let rest = &joined[at..];
        let starts_path = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (at == 0
                || !matches!(bytes[at - 1], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'$' | b':'));
        if !starts_path {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let mut path: Vec<String> = Vec::new();
        let mut tail = rest;
        if tail.starts_with("crate::") {
            tail = &tail["crate::".len()..];
        } else {
            // Each `super` is one step up from the file's own module.
            path = here.to_vec();
            while tail.starts_with("super::") {
                tail = &tail["super::".len()..];
                path.pop();
            }
        }
        let names: Vec<String> = if let Some(group) = tail.strip_prefix('{') {
            // Each item of the group: only its first name matters for the top module.
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').map(ident).collect()
        } else {
            vec![ident(tail)]
        };
        for name in names {
            let top = path.first().cloned().unwrap_or(name);
            if !top.is_empty() {
                found.push((line_of(at), top));
            }
        }
        at += "crate::".len().min(rest.len());
    }
    found
}

fn layer_of(layers: &[&[&str]], module: &str) -> Option<usize> {
    layers.iter().position(|l| l.contains(&module))
}

/// What the crate root (`lib.rs`) re-exports, by name, with the module each comes from:
/// `pub use dataset::{Dataset, Splits};` gives Dataset → dataset and Splits → dataset.
fn root_reexports(src: &Path) -> std::collections::HashMap<String, String> {
    let mut aliases = std::collections::HashMap::new();
    let Ok(text) = std::fs::read_to_string(src.join("lib.rs")) else {
        return aliases;
    };
    let code = code_lines(&text).join(" ");
    for decl in code.split(';') {
        let Some(path) = decl.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident(path);
        let items = match path.split_once('{') {
            Some((_, group)) => group.trim_end_matches('}').split(',').map(ident).collect(),
            None => vec![path.rsplit("::").next().map(ident).unwrap_or_default()],
        };
        for item in items.into_iter().filter(|i| !i.is_empty() && *i != "self") {
            aliases.insert(item, module.clone());
        }
    }
    aliases
}

/// Uses against the order of `layers` in the crate at `src`, as "file:line: ..." sentences.
fn order_faults(src: &Path, layers: &[&[&str]]) -> Vec<String> {
    let aliases = root_reexports(src);
    let mut wrong = Vec::new();
    for file in rust_files(src) {
        let here = module_path(src, &file);
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let code = code_lines(&text);
        let at = |line: usize| format!("{}:{line}", file.display());
        for (i, line) in code.iter().enumerate() {
            if line.contains("crate as ") || line.contains("super as ") {
                wrong.push(format!(
                    "{}: renames the crate, hiding its paths",
                    at(i + 1)
                ));
            }
        }
        let Some(own) = here.first() else { continue };
        let Some(own_layer) = layer_of(layers, own) else {
            if !layers.is_empty() {
                wrong.push(format!("{}: module `{own}` is in no layer", file.display()));
            }
            continue;
        };
        for (line, named) in module_uses(&code, &here) {
            // `crate::Dataset` is the module the crate root re-exports it from.
            let target = aliases.get(&named).cloned().unwrap_or(named);
            if layer_of(layers, &target).is_some_and(|l| l > own_layer) {
                wrong.push(format!(
                    "{}: `{own}` uses `{target}`, a higher layer",
                    at(line)
                ));
            }
        }
    }
    wrong
}

/// Lines of a library crate that read the environment or name a command-line flag.
fn cli_leaks(src: &Path) -> Vec<String> {
    let mut wrong = Vec::new();
    for file in rust_files(src) {
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let code = code_lines(&text);
        let joined = code.join(" ");
        // `use std::{env, ...}` over one or several lines.
        let grouped_env = joined.match_indices("std::{").any(|(at, _)| {
            joined[at..]
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .any(|p| ident(p.trim_start_matches("std::{")) == "env")
        });
        if grouped_env {
            wrong.push(format!("{}: imports std::env", file.display()));
        }
        for (i, c) in code.iter().enumerate() {
            let env = ["std::env", "env::var", "var_os(", "env::vars"]
                .iter()
                .any(|p| c.contains(p));
            if env {
                wrong.push(format!(
                    "{}:{}: reads the environment",
                    file.display(),
                    i + 1
                ));
            }
            if !flag_words(c).is_empty() {
                wrong.push(format!(
                    "{}:{}: names a command-line flag",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    wrong
}

#[test]
fn modules_depend_downward_only_inside_each_crate() {
    let mut wrong = Vec::new();
    for c in CRATES {
        wrong.extend(order_faults(&root().join(c.dir).join("src"), c.layers));
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_library_crates_know_no_cli() {
    let mut wrong = Vec::new();
    for c in CRATES {
        wrong.extend(cli_leaks(&root().join(c.dir).join("src")));
    }
    assert!(
        wrong.is_empty(),
        "the command line's business in the library:\n{}",
        wrong.join("\n")
    );
}

/// The packages in `package`'s normal dependency tree, through every path.
fn normal_tree(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_library_crates_depend_on_none_of_the_command_lines_crates() {
    let mut wrong = Vec::new();
    for (package, forbidden) in FORBIDDEN {
        let tree = normal_tree(package);
        assert!(
            tree.iter().any(|p| p == "wgpu") || *package != "wgnn-engine",
            "{tree:?}"
        );
        for f in *forbidden {
            if tree.iter().any(|p| p == f) {
                wrong.push(format!("{package} depends on {f}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const TOY: &[&[&str]] = &[&["util"], &["runtime"], &["train"]];

#[test]
fn each_way_around_the_order_is_caught_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write(
        src,
        "train/fit.rs",
        "use crate::runtime::Tensor;\nuse super::super::util::x;\n",
    );
    write(
        src,
        "runtime/context.rs",
        "// crate::train in a comment is fine\nuse crate::{util::rng, train::fit};\n",
    );
    write(src, "runtime/a.rs", "use super::super::train::fit;\n");
    write(
        src,
        "runtime/b.rs",
        "use crate::{\n    util::rng,\n    train::fit,\n};\n",
    );
    write(
        src,
        "runtime/c.rs",
        "use crate as w;\nfn f() { w::train::fit(); }\n",
    );
    write(
        src,
        "runtime/mod.rs",
        "pub use super::train::fit;\n/* crate::train */\n",
    );
    write(
        src,
        "lib.rs",
        "pub use train::{\n    fit,\n    Trainer,\n};\npub use util::rng;\n",
    );
    write(
        src,
        "runtime/d.rs",
        "use crate::Trainer;\nuse crate::rng;\n",
    );
    let mut wrong = order_faults(src, TOY);
    wrong
        .iter_mut()
        .for_each(|w| *w = w.replace(&format!("{}/", src.display()), ""));
    assert_eq!(
        wrong,
        [
            "runtime/a.rs:1: `runtime` uses `train`, a higher layer",
            "runtime/b.rs:1: `runtime` uses `train`, a higher layer",
            "runtime/c.rs:1: renames the crate, hiding its paths",
            "runtime/context.rs:2: `runtime` uses `train`, a higher layer",
            "runtime/d.rs:1: `runtime` uses `train`, a higher layer",
            "runtime/mod.rs:1: `runtime` uses `train`, a higher layer",
        ]
    );
}

#[test]
fn an_environment_read_or_a_flag_in_the_library_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write(
        src,
        "a.rs",
        "let v = std::env::var(\"X\");\nlet m = \"--kernels: no\";\nlet ok = a - -b;\n",
    );
    write(src, "b.rs", "use std::{\n    env as e,\n    fs,\n};\n");
    write(
        src,
        "c.rs",
        "let m = \"use `--backend cpu` instead\";\nlet v = env!(\"CARGO_PKG_VERSION\");\n",
    );
    let wrong = cli_leaks(src);
    assert_eq!(wrong.len(), 4, "{wrong:?}");
}
