//! Every WGSL file parses and validates with naga, without a GPU; every file on disk is compiled in.

use wgnn::runtime::SHADERS;

#[test]
fn every_shader_parses_and_validates() {
    for (name, src) in SHADERS {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), Default::default())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(src)));
        assert!(
            !module.entry_points.is_empty(),
            "{name}.wgsl has no entry point"
        );
    }
}

#[test]
fn every_shader_file_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(
                SHADERS.iter().any(|(n, _)| *n == stem),
                "{stem}.wgsl is not in SHADERS"
            );
        }
    }
}
