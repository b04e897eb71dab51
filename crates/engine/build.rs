//! Lists the WGSL files of the workspace's `shaders/` folder for `src/runtime/shaders.rs`, so the
//! list is the folder itself and never kept by hand: each file is compiled into the binary (the
//! command line needs no files at run time), and every top-level file is a kernel module.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `.wgsl` files directly in `dir`, sorted by name (the order the shaders' hash reads them).
fn wgsl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    files.sort();
    files
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../../shaders");
    println!("cargo:rerun-if-changed={}", root.display());
    let kernels = wgsl_files(&root);
    let preludes = wgsl_files(&root.join("prelude"));
    let mut code =
        String::from("/// (path relative to `shaders/`, text) of every file, preludes included.\n");
    code.push_str("const FILES: &[(&str, &str)] = &[\n");
    for (prefix, files) in [("", &kernels), ("prelude/", &preludes)] {
        for f in files.iter() {
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 file name");
            let abs = f.canonicalize().expect("the file exists");
            writeln!(
                code,
                "    ({:?}, include_str!({:?})),",
                format!("{prefix}{name}"),
                abs
            )
            .expect("writing to a String");
        }
    }
    code.push_str("];\n\n/// The kernel modules (file stems of `shaders/*.wgsl`); the preludes are only included.\n");
    code.push_str("pub const SHADERS: &[&str] = &[\n");
    for f in &kernels {
        let stem = f
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name");
        writeln!(code, "    {stem:?},").expect("writing to a String");
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("shader_files.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
