//! The library's modules depend on each other in one direction only:
//! util → runtime → ops → layers → graph → data → model → train → report → app.
//! Every `crate::NAME` path in `src/` is read, and a path to a module of a higher layer than its
//! own file's fails the test with the file and the line. The library outside `app/` also reads no
//! environment variables and names no command-line flags: the CLI turns those into values.

use std::path::{Path, PathBuf};

/// The layers, lowest first; modules of one layer may use each other.
const LAYERS: &[&[&str]] = &[
    &["error", "util"],
    &["runtime"],
    &["ops", "onnx"],
    &["layers"],
    &["graph"],
    &["data"],
    &["model"],
    &["train"],
    &["report", "check"],
    &["app"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top module a file of `src/` belongs to (`src/graph/gpu.rs` → `graph`); None for the crate
/// roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The code of a line without its `//` comment (doc comments are prose, not imports).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Every `crate::NAME` in `text`, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = code(line);
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            // `wgnn_crate::x` or `$crate::x` are other things.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((i + 1, name));
        }
        // `use crate::{a::x, b::y}`: each name after the brace.
        if let Some(group) = line.split("crate::{").nth(1) {
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push((i + 1, name));
                }
            }
        }
    }
    found
}

/// Upward imports in `src`, as "file:line: `a` uses `b`" sentences.
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let own = layer_of(&module)
            .unwrap_or_else(|| panic!("{}: module `{module}` is in no layer", file.display()));
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (line, target) in crate_paths(&text) {
            let Some(theirs) = layer_of(&target) else {
                continue; // an item of lib.rs (`crate::Result`), not a module
            };
            if theirs > own {
                wrong.push(format!(
                    "{}:{line}: `{module}` uses `{target}`, a higher layer",
                    file.display()
                ));
            }
        }
    }
    wrong
}

/// Lines of the library outside `app/` that read the environment or name a flag in a message.
fn cli_leaks(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in files {
        match module_of(src, &file).as_deref() {
            None | Some("app") => continue,
            _ => {}
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (i, line) in text.lines().enumerate() {
            let c = code(line);
            if c.contains("env::var") || c.contains("OnceLock<KernelFamily>") {
                wrong.push(format!(
                    "{}:{}: reads the environment",
                    file.display(),
                    i + 1
                ));
            }
            let flag = c
                .match_indices("\"--")
                .chain(c.match_indices(" --"))
                .any(|(at, m)| c[at + m.len()..].starts_with(|ch: char| ch.is_ascii_lowercase()));
            if flag {
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

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn modules_depend_downward_only() {
    let wrong = upward_imports(&src());
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_library_outside_app_knows_no_cli() {
    let wrong = cli_leaks(&src());
    assert!(
        wrong.is_empty(),
        "the CLI's business in the library:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn an_upward_import_is_caught_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("runtime")).unwrap();
    std::fs::create_dir_all(src.join("train")).unwrap();
    std::fs::write(
        src.join("train/fit.rs"),
        "use crate::runtime::GpuContext;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("runtime/context.rs"),
        "// crate::train in a comment is fine\nuse crate::{util::rng, train::fit};\n",
    )
    .unwrap();
    let wrong = upward_imports(src);
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(wrong[0].ends_with("runtime/context.rs:2: `runtime` uses `train`, a higher layer"));
}

#[test]
fn an_environment_read_or_a_flag_in_the_library_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("runtime")).unwrap();
    std::fs::create_dir_all(src.join("app")).unwrap();
    std::fs::write(
        src.join("runtime/a.rs"),
        "let v = std::env::var(\"X\");\nlet m = \"--kernels: no\";\nlet ok = a - -b;\n",
    )
    .unwrap();
    std::fs::write(src.join("app/b.rs"), "let v = std::env::var(\"X\");\n").unwrap();
    let wrong = cli_leaks(src);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
}
