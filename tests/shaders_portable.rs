//! Every entry point of every shader, exactly as the runtime compiles it (the prelude included),
//! with its default constants and with every value the kernel tuner may choose, translated by
//! naga into the language of each wgpu backend and, where a validator exists, validated by it:
//! SPIR-V (Vulkan) by `spirv-val`, GLSL (wgpu's GL backend) by `glslangValidator`; MSL (Metal)
//! and HLSL (DX12) through naga's writers, which must succeed for every entry point.
//! A shader that only one driver rejects would otherwise be found on that driver, by a user.
//!
//! The validators are Debian's `spirv-tools` and `glslang-tools`. Where one is missing the test
//! says so and skips that language, except in CI (`CI=true`), where a missing tool is a failure.

use std::path::Path;
use std::process::Command;

use naga::back::{glsl, hlsl, msl, spv};
use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
use naga::valid::ModuleInfo;
use naga::{Module, ShaderStage};
use wgnn::app::tune_kernels::candidates;
use wgnn::runtime::{
    check_limits, compiled_module, parse_shader, reflect_entry, Constants, SHADERS,
};

/// Every entry point of every shader as the runtime compiles it: parsed and validated, reduced to
/// that entry point with the override constants applied, as wgpu hands it to a backend. Each
/// kernel comes with the shaders' defaults, then with every other value `wgnn bench
/// --tune-kernels` may choose for each of its constants (one at a time, as it tunes them):
/// `(shader, label, entry point, module, info)`, the label `shader::entry` or `shader::entry [TILE=32]`.
fn kernels() -> Vec<(&'static str, String, String, Module, ModuleInfo)> {
    let mut out = Vec::new();
    for name in SHADERS {
        let parsed = parse_shader(name).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !parsed.module.entry_points.is_empty(),
            "{name}.wgsl has no entry point"
        );
        for ep in &parsed.module.entry_points {
            let defaults = reflect_entry(name, &ep.name, &Constants::default())
                .unwrap_or_else(|e| panic!("{e}"))
                .constants;
            let mut variants = vec![Constants::default()];
            for (constant, default) in defaults.iter() {
                for v in candidates(constant, u32::MAX) {
                    if f64::from(v) != default {
                        let mut c = Constants::default();
                        c.set(constant, f64::from(v));
                        variants.push(c);
                    }
                }
            }
            for c in variants {
                let (module, info) =
                    compiled_module(name, &ep.name, &c).unwrap_or_else(|e| panic!("{e}"));
                let label = match c.is_empty() {
                    true => format!("{name}::{}", ep.name),
                    false => format!("{name}::{} [{c}]", ep.name),
                };
                out.push((*name, label, ep.name.clone(), module, info));
            }
        }
    }
    out
}

/// Whether `tool` runs. Missing: None locally (the caller skips, saying why); a panic in CI.
fn tool(tool: &str, package: &str) -> Option<()> {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(());
    }
    let why = format!(
        "`{tool}` is not installed (`apt-get install -y {package}`); `.ci/run` installs it"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{why}: in CI every shader must be validated");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Runs `cmd` on `file`; the validator's own words on failure.
fn validate(cmd: &mut Command, what: &str, file: &Path, text: &str) -> Result<(), String> {
    let out = cmd.arg(file).output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what}: rejected by the validator:\n{}{}\n--- translated source ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        text.lines()
            .enumerate()
            .map(|(i, l)| format!("{:4} {l}\n", i + 1))
            .collect::<String>()
    ))
}

/// Fails with every message at once, so one run names every bad entry point.
fn report(language: &str, checked: usize, failures: Vec<String>) {
    assert!(checked > 0, "{language}: no entry point was translated");
    assert!(
        failures.is_empty(),
        "{language}: {} of {checked} translations failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{language}: {checked} translations (entry point x language version) passed");
}

/// wgpu's Vulkan backend: bounds checks by clamping (`Restrict`) where the device lacks robust
/// buffer access; SPIR-V 1.0 for Vulkan 1.0 devices up to 1.6 for Vulkan 1.3 (lavapipe's).
#[test]
fn every_entry_point_is_valid_spirv() {
    if tool("spirv-val", "spirv-tools").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut checked, mut failures) = (0, Vec::new());
    for (i, (_, label, entry, module, info)) in kernels().into_iter().enumerate() {
        for ((major, minor), env) in [((1, 0), "vulkan1.0"), ((1, 6), "vulkan1.3")] {
            let what = format!("{label} as SPIR-V {major}.{minor}");
            let options = spv::Options {
                lang_version: (major, minor),
                flags: spv::WriterFlags::empty(),
                bounds_check_policies: BoundsCheckPolicies {
                    index: BoundsCheckPolicy::Restrict,
                    buffer: BoundsCheckPolicy::Restrict,
                    image_load: BoundsCheckPolicy::Restrict,
                    binding_array: BoundsCheckPolicy::Unchecked,
                },
                force_loop_bounding: true,
                ..Default::default()
            };
            let pipeline = spv::PipelineOptions {
                shader_stage: ShaderStage::Compute,
                entry_point: entry.clone(),
            };
            let words = match spv::write_vec(&module, &info, &options, Some(&pipeline)) {
                Ok(w) => w,
                Err(e) => {
                    failures.push(format!("{what}: naga's writer failed: {e}"));
                    continue;
                }
            };
            let file = dir.path().join(format!("{i}-{entry}-{major}{minor}.spv"));
            std::fs::write(&file, bytemuck::cast_slice::<u32, u8>(&words)).unwrap();
            let r = validate(
                Command::new("spirv-val").args(["--target-env", env]),
                &what,
                &file,
                "(binary; disassemble the file with spirv-dis)",
            );
            failures.extend(r.err());
            checked += 1;
        }
    }
    report("SPIR-V", checked, failures);
}

/// wgpu's GL backend: GLSL ES 3.10 (the first with compute shaders; EGL contexts such as
/// llvmpipe's are ES) and desktop GLSL 4.30, with bindings numbered as wgpu numbers them (one
/// bind group, so binding N is slot N) and no bounds checks added (GL does its own).
#[test]
fn every_entry_point_is_valid_glsl() {
    if tool("glslangValidator", "glslang-tools").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut checked, mut failures) = (0, Vec::new());
    for (i, (_, label, entry, module, info)) in kernels().into_iter().enumerate() {
        let binding_map: glsl::BindingMap = module
            .global_variables
            .iter()
            .filter_map(|(_, v)| v.binding)
            .map(|rb| (rb, rb.binding as u8))
            .collect();
        for version in [glsl::Version::new_gles(310), glsl::Version::Desktop(430)] {
            let what = format!("{label} as GLSL {version}");
            let options = glsl::Options {
                version,
                writer_flags: glsl::WriterFlags::ADJUST_COORDINATE_SPACE,
                binding_map: binding_map.clone(),
                zero_initialize_workgroup_memory: true,
            };
            let pipeline = glsl::PipelineOptions {
                shader_stage: ShaderStage::Compute,
                entry_point: entry.clone(),
                multiview: None,
            };
            let mut text = String::new();
            let written = glsl::Writer::new(
                &mut text,
                &module,
                &info,
                &options,
                &pipeline,
                BoundsCheckPolicies::default(),
            )
            .and_then(|mut w| w.write());
            if let Err(e) = written {
                failures.push(format!("{what}: naga's writer failed: {e}"));
                continue;
            }
            let tag = if version.is_es() { "es" } else { "core" };
            let file = dir.path().join(format!("{i}-{entry}-{tag}.comp"));
            std::fs::write(&file, &text).unwrap();
            failures
                .extend(validate(&mut Command::new("glslangValidator"), &what, &file, &text).err());
            checked += 1;
        }
    }
    report("GLSL", checked, failures);
}

/// wgpu's Metal backend: MSL 2.0 and up, bindings assigned by naga as wgpu would lay them out.
#[test]
fn every_entry_point_translates_to_msl() {
    let (mut checked, mut failures) = (0, Vec::new());
    for (_, label, entry, module, info) in kernels() {
        let options = msl::Options {
            lang_version: (2, 0),
            ..Default::default()
        };
        let pipeline = msl::PipelineOptions {
            entry_point: Some((ShaderStage::Compute, entry.clone())),
            ..Default::default()
        };
        match msl::write_string(&module, &info, &options, &pipeline) {
            Ok((text, _)) if text.contains("kernel void") => {}
            Ok(_) => failures.push(format!("{label} as MSL: no kernel function")),
            Err(e) => failures.push(format!("{label} as MSL: {e}")),
        }
        checked += 1;
    }
    report("MSL", checked, failures);
}

/// wgpu's DX12 backend: shader model 5.1 (FXC) and 6.0 (DXC).
#[test]
fn every_entry_point_translates_to_hlsl() {
    let (mut checked, mut failures) = (0, Vec::new());
    for (_, label, entry, module, info) in kernels() {
        for model in [hlsl::ShaderModel::V5_1, hlsl::ShaderModel::V6_0] {
            let options = hlsl::Options {
                shader_model: model,
                ..Default::default()
            };
            let pipeline = hlsl::PipelineOptions {
                entry_point: Some((ShaderStage::Compute, entry.clone())),
            };
            let mut text = String::new();
            let written =
                hlsl::Writer::new(&mut text, &options, &pipeline).write(&module, &info, None);
            match written {
                Ok(_) if text.contains("[numthreads(") => {}
                Ok(_) => {
                    failures.push(format!("{label} as HLSL {model:?}: no compute entry point"))
                }
                Err(e) => failures.push(format!("{label} as HLSL {model:?}: {e}")),
            }
            checked += 1;
        }
    }
    report("HLSL", checked, failures);
}

/// The entry points that bind more storage buffers than WebGPU's default limit of 8 per stage, and
/// how many: batch norm's training passes bind x, y, the statistics, gamma/beta and their
/// gradients at once. Vulkan desktop drivers, Metal (31), DX12 and llvmpipe allow more, and wgnn
/// asks for the adapter's own limits, but an adapter that offers only the WebGPU minimum refuses
/// these two pipelines (crates/engine/src/runtime/limits_check.rs says so, naming the kernel and the limit). A new
/// kernel over the limit fails the test below.
const OVER_8_STORAGE_BUFFERS: &[(&str, u32)] =
    &[("batchnorm::bn_apply_train", 10), ("batchnorm::bn_dx", 10)];

/// Every entry point fits WebGPU's default limits (storage buffers per stage, except the known
/// ones above; workgroup size and invocations; workgroup memory), the least a WebGPU-conformant
/// Vulkan, Metal or DX12 adapter offers. GL ES devices may offer less (wgpu's "downlevel"
/// limits); entry points over those are printed.
#[test]
fn every_entry_point_fits_the_default_limits() {
    let limits = wgpu::Limits::default();
    let downlevel = wgpu::Limits::downlevel_defaults();
    let mut failures = Vec::new();
    for (name, label, entry, _, _) in kernels() {
        if label.contains('[') {
            continue;
        }
        let full = format!("{name}::{entry}");
        let needs = reflect_entry(name, &entry, &Constants::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .needs;
        let known = OVER_8_STORAGE_BUFFERS.iter().find(|(n, _)| *n == full);
        let allowed = wgpu::Limits {
            max_storage_buffers_per_shader_stage: known
                .map_or(limits.max_storage_buffers_per_shader_stage, |&(_, k)| k),
            ..limits.clone()
        };
        failures.extend(check_limits(&full, "WebGPU's default limits", &needs, &allowed).err());
        if let Err(e) = check_limits(&full, "GL ES 3.1 (downlevel)", &needs, &downlevel) {
            eprintln!("over the downlevel limits: {e}");
        }
    }
    assert!(
        failures.is_empty(),
        "over WebGPU's default limits:\n{}",
        failures
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
