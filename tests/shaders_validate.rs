//! Every WGSL file parses and validates with naga, without a GPU; every file on disk is compiled in.

use wgnn::runtime::{parse_shader, shader_files, SHADERS};

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
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
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
                    "shaders/{rel} is not compiled in (src/runtime/shaders.rs)"
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
