//! Every WGSL file of `shaders/`, compiled into the binary so the CLI needs no files at run time.

/// (name, source) for each kernel family; the name is the file stem in `shaders/`.
pub const SHADERS: &[(&str, &str)] = &[
    ("elementwise", include_str!("../../shaders/elementwise.wgsl")),
    ("gemm", include_str!("../../shaders/gemm.wgsl")),
    ("dropout", include_str!("../../shaders/dropout.wgsl")),
    ("batchnorm", include_str!("../../shaders/batchnorm.wgsl")),
    ("optim", include_str!("../../shaders/optim.wgsl")),
];

/// The source of shader `name`, or None if no such file was compiled in.
pub fn shader_source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
