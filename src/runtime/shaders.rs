//! Every WGSL file of `shaders/`, compiled into the binary so the CLI needs no files at run time.

/// (name, source) for each kernel family; the name is the file stem in `shaders/`.
pub const SHADERS: &[(&str, &str)] = &[
    ("batchnorm", include_str!("../../shaders/batchnorm.wgsl")),
    ("conv2d", include_str!("../../shaders/conv2d.wgsl")),
    ("dropout", include_str!("../../shaders/dropout.wgsl")),
    (
        "elementwise",
        include_str!("../../shaders/elementwise.wgsl"),
    ),
    ("gather", include_str!("../../shaders/gather.wgsl")),
    ("gemm", include_str!("../../shaders/gemm.wgsl")),
    ("loss", include_str!("../../shaders/loss.wgsl")),
    ("optim", include_str!("../../shaders/optim.wgsl")),
    ("pool", include_str!("../../shaders/pool.wgsl")),
    ("reduce", include_str!("../../shaders/reduce.wgsl")),
];

/// The source of shader `name`, or None if no such file was compiled in.
pub fn shader_source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
