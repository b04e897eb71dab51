//! Every WGSL file of `shaders/`, compiled into the binary so the CLI needs no files at run time.
//! Each is preceded by `shaders/prelude/step.wgsl`, the GEMM-shaped ones by
//! `shaders/prelude/block8.wgsl`, the ones that apply activations by
//! `shaders/prelude/activate.wgsl` and the ones that draw random numbers by
//! `shaders/prelude/hash.wgsl` (WGSL has no includes).

/// (name, source) for each kernel family; the name is the file stem in `shaders/`.
pub const SHADERS: &[(&str, &str)] = &[
    (
        "batchnorm",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/batchnorm.wgsl")
        ),
    ),
    (
        "conv2d",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/prelude/block8.wgsl"),
            include_str!("../../shaders/prelude/activate.wgsl"),
            include_str!("../../shaders/conv2d.wgsl")
        ),
    ),
    (
        "dropout",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/prelude/hash.wgsl"),
            include_str!("../../shaders/dropout.wgsl")
        ),
    ),
    (
        "elementwise",
        concat!(
            include_str!("../../shaders/prelude/activate.wgsl"),
            include_str!("../../shaders/elementwise.wgsl")
        ),
    ),
    (
        "gather",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/prelude/hash.wgsl"),
            include_str!("../../shaders/gather.wgsl")
        ),
    ),
    (
        "gemm",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/prelude/block8.wgsl"),
            include_str!("../../shaders/prelude/activate.wgsl"),
            include_str!("../../shaders/gemm.wgsl")
        ),
    ),
    (
        "loss",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/loss.wgsl")
        ),
    ),
    (
        "optim",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/optim.wgsl")
        ),
    ),
    (
        "pool",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/pool.wgsl")
        ),
    ),
    (
        "reduce",
        concat!(
            include_str!("../../shaders/prelude/step.wgsl"),
            include_str!("../../shaders/reduce.wgsl")
        ),
    ),
];

/// The source of shader `name`, or None if no such file was compiled in.
pub fn shader_source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
