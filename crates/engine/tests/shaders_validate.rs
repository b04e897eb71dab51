//! Every WGSL file parses and validates with naga, without a GPU; every file on disk is compiled in.

use wgnn_engine::runtime::{parse_shader, shader_files, SHADERS};

#[test]
fn every_shader_parses_and_validates() {
    for name in SHADERS {
        let p = parse_shader(name).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !p.module.entry_points.is_empty(),
            "{name}.wgsl has no entry point"
        );
    }
}

#[test]
fn every_shader_file_is_registered() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders");
    let mut on_disk = 0;
    for dir in [root.clone(), root.join("prelude")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wgsl") {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                assert!(
                    shader_files().any(|f| f == rel),
                    "shaders/{rel} is not compiled in (crates/engine/build.rs lists shaders/)"
                );
                on_disk += 1;
            }
        }
    }
    assert_eq!(
        on_disk,
        shader_files().count(),
        "a file compiled in is missing on disk"
    );
}

/// Whether `f` calls the function named `callee`, directly or through the functions it calls.
fn calls(m: &naga::Module, f: &naga::Function, callee: &str) -> bool {
    fn walk(m: &naga::Module, b: &naga::Block, callee: &str) -> bool {
        use naga::Statement as S;
        b.iter().any(|s| match s {
            S::Block(b) => walk(m, b, callee),
            S::If { accept, reject, .. } => walk(m, accept, callee) || walk(m, reject, callee),
            S::Loop {
                body, continuing, ..
            } => walk(m, body, callee) || walk(m, continuing, callee),
            S::Switch { cases, .. } => cases.iter().any(|c| walk(m, &c.body, callee)),
            S::Call { function, .. } => {
                let g = &m.functions[*function];
                g.name.as_deref() == Some(callee) || walk(m, &g.body, callee)
            }
            _ => false,
        })
    }
    walk(m, &f.body, callee)
}

/// Every tiled GEMM kernel (Variant::Tiled) accumulates through the one core of
/// shaders/prelude/tile_gemm.wgsl, and stages through its tiles only: a kernel with a private copy
/// of the core would pass every numeric test and drift from the others.
#[test]
fn every_tiled_gemm_kernel_runs_on_the_shared_core() {
    let tiled = [
        ("conv2d_tiled", "forward"),
        ("conv2d_tiled", "backward_input"),
        ("conv2d_tiled", "backward_weights"),
        ("gemm", "matmul"),
        ("gemm", "matmul_bias"),
    ];
    for (name, entry) in tiled {
        let p = parse_shader(name).unwrap_or_else(|e| panic!("{e}"));
        let ep = p.module.entry_points.iter().find(|e| e.name == entry);
        let ep = ep.unwrap_or_else(|| panic!("{name}::{entry} is missing"));
        assert!(
            calls(&p.module, &ep.function, "tile_mma"),
            "{name}::{entry} does not call tile_mma"
        );
        let staged: Vec<_> = p
            .module
            .global_variables
            .iter()
            .filter(|(_, g)| g.space == naga::AddressSpace::WorkGroup)
            .filter_map(|(_, g)| g.name.as_deref())
            // weights_reduce_tree's sums (the conv prelude's), which no GEMM touches.
            .filter(|n| *n != "wred")
            .collect();
        assert_eq!(staged, ["As", "Bs"], "{name}.wgsl's workgroup memory");
    }
}
