//! Reads a WGSL module with naga to learn which globals an entry point uses. Kernels are then bound
//! by variable name, so an op's dispatch code cannot get a binding number or an access mode wrong,
//! and every entry point gets an explicit layout holding exactly the buffers it touches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::config::Constants;
use super::include::Assembled;
use super::limits_check::KernelNeeds;
use super::shaders::shader_source;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    Uniform,
    StorageRead,
    StorageReadWrite,
}

#[derive(Clone, Debug)]
pub struct BindingInfo {
    pub name: String,
    pub binding: u32,
    pub kind: BindingKind,
}

/// A shader module parsed and validated by naga, and the assembled source it came from.
pub struct Parsed {
    pub module: naga::Module,
    pub info: naga::valid::ModuleInfo,
    pub source: &'static Assembled,
}

/// Shader `name` (its includes expanded) parsed and validated; errors name the file and line.
/// Parsed once per process: kernels and tile sizes are reflected from it many times.
pub fn parse_shader(name: &str) -> Result<Arc<Parsed>> {
    type Cache = Mutex<HashMap<String, std::result::Result<Arc<Parsed>, String>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let poisoned = || Error::Gpu("shader cache lock poisoned".into());
    if let Some(r) = cache.lock().map_err(|_| poisoned())?.get(name) {
        return r.clone().map_err(Error::Gpu);
    }
    let parsed = shader_source(name).and_then(|source| {
        let (module, info) = parse_assembled(source)?;
        Ok(Arc::new(Parsed {
            module,
            info,
            source,
        }))
    });
    let stored = parsed.map_err(|e| e.to_string());
    cache
        .lock()
        .map_err(|_| poisoned())?
        .insert(name.to_string(), stored.clone());
    stored.map_err(Error::Gpu)
}

/// Parses and validates an assembled source; an error is `shaders/<file>:<line>:<col>: message`
/// in the file the faulty line came from.
pub fn parse_assembled(a: &Assembled) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let module =
        naga::front::wgsl::parse_str(&a.source).map_err(|e| Error::Gpu(a.parse_error(&e)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .map_err(|e| Error::Gpu(a.validation_error(&e)))?;
    Ok((module, info))
}

/// What the kernel cache needs to know of one entry point compiled with given constants.
#[derive(Clone, Debug)]
pub struct EntryInfo {
    /// The group-0 bindings the entry point uses, by binding number.
    pub bindings: Vec<BindingInfo>,
    /// Workgroup size, workgroup memory and storage buffers, with the constants applied.
    pub needs: KernelNeeds,
    /// Every override the module declares, with the value the entry point gets (the default
    /// unless `constants` set it).
    pub constants: Constants,
    /// The override that sets a 1-D workgroup's size (`@workgroup_size(WG)`), which may be
    /// lowered on an adapter that allows fewer invocations.
    pub size_override: Option<String>,
}

/// `shader` reduced to `entry` with `constants` applied (those the module does not declare are
/// ignored), as wgpu hands it to a backend: overrides evaluated, workgroup size resolved, what
/// the entry point does not reach removed. naga's writers need the overrides processed.
pub fn compiled_module(
    shader: &str,
    entry: &str,
    constants: &Constants,
) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let parsed = parse_shader(shader)?;
    find_entry(&parsed.module, shader, entry)?;
    let mut values = naga::back::PipelineConstants::default();
    for (name, v) in constants.only(&declared(&parsed.module)).iter() {
        values.insert(name.to_string(), v);
    }
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &parsed.module,
        &parsed.info,
        Some((naga::ShaderStage::Compute, entry)),
        &values,
    )
    .map_err(|e| {
        Error::Gpu(format!(
            "shader {shader}: the constants {constants} do not apply to `{entry}`: {e}"
        ))
    })?;
    Ok((module.into_owned(), info.into_owned()))
}

/// The names of the overrides `module` declares.
fn declared(module: &naga::Module) -> Vec<String> {
    module
        .overrides
        .iter()
        .filter_map(|(_, o)| o.name.clone())
        .collect()
}

/// Reflects `shader::entry` compiled with `constants`: naga applies them as wgpu will, so the
/// workgroup size is the one that runs.
pub fn reflect_entry(shader: &str, entry: &str, constants: &Constants) -> Result<EntryInfo> {
    let parsed = parse_shader(shader)?;
    let (_, ep) = find_entry(&parsed.module, shader, entry)?;
    let size_override = size_override(&parsed.module, ep);
    let declared = declared(&parsed.module);
    let (module, info) = compiled_module(shader, entry, constants)?;
    let (index, ep) = find_entry(&module, shader, entry)?;
    let uses = info.get_entry_point(index);
    let mut bindings = Vec::new();
    let mut workgroup_bytes = 0u32;
    for (handle, var) in module.global_variables.iter() {
        if uses[handle].is_empty() {
            continue;
        }
        if var.space == naga::AddressSpace::WorkGroup {
            let size = module.types[var.ty].inner.try_size(module.to_ctx());
            workgroup_bytes = workgroup_bytes.saturating_add(size.unwrap_or(u32::MAX));
        }
        if let Some(rb) = &var.binding {
            bindings.push(binding(shader, rb, var)?);
        }
    }
    bindings.sort_by_key(|b| b.binding);
    let storage_buffers = bindings
        .iter()
        .filter(|b| b.kind != BindingKind::Uniform)
        .count() as u32;
    Ok(EntryInfo {
        bindings,
        needs: KernelNeeds {
            workgroup_size: ep.workgroup_size,
            workgroup_bytes,
            storage_buffers,
        },
        constants: resolved(&module, &declared),
        size_override,
    })
}

fn find_entry<'m>(
    module: &'m naga::Module,
    shader: &str,
    entry: &str,
) -> Result<(usize, &'m naga::EntryPoint)> {
    module
        .entry_points
        .iter()
        .enumerate()
        .find(|(_, ep)| ep.name == entry)
        .ok_or_else(|| Error::Gpu(format!("shader {shader}: no entry point `{entry}`")))
}

/// The override named in `@workgroup_size(NAME)` of a 1-D entry point, if it is one.
fn size_override(module: &naga::Module, ep: &naga::EntryPoint) -> Option<String> {
    let [Some(x), None, None] = ep.workgroup_size_overrides? else {
        return None;
    };
    match module.global_expressions[x] {
        naga::Expression::Override(h) => module.overrides[h].name.clone(),
        _ => None,
    }
}

/// The value of each override in `declared` after `process_overrides` evaluated them.
fn resolved(module: &naga::Module, declared: &[String]) -> Constants {
    let mut out = Constants::default();
    for (_, o) in module.overrides.iter() {
        let (Some(name), Some(init)) = (&o.name, o.init) else {
            continue;
        };
        let value = match module.global_expressions[init] {
            naga::Expression::Literal(l) => literal_f64(l),
            _ => None,
        };
        if let (Some(v), true) = (value, declared.contains(name)) {
            out.set(name, v);
        }
    }
    out
}

fn literal_f64(l: naga::Literal) -> Option<f64> {
    match l {
        naga::Literal::U32(v) => Some(v as f64),
        naga::Literal::I32(v) => Some(v as f64),
        naga::Literal::F32(v) => Some(v as f64),
        naga::Literal::F64(v) => Some(v),
        naga::Literal::Bool(b) => Some(b as u8 as f64),
        _ => None,
    }
}

/// The value of module-scope `const NAME: u32` in `shader`, such as a tile size that the host
/// code needs to size its grid (read from the shader, so it is written once).
pub fn shader_constant(shader: &str, name: &str) -> Result<u32> {
    let parsed = parse_shader(shader)?;
    let module = &parsed.module;
    let value = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .and_then(|(_, c)| match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => Some(v),
            _ => None,
        });
    value.ok_or_else(|| {
        Error::Gpu(format!(
            "shader {shader} has no `const {name}: u32` with a literal value"
        ))
    })
}

fn binding(
    shader: &str,
    rb: &naga::ResourceBinding,
    var: &naga::GlobalVariable,
) -> Result<BindingInfo> {
    if rb.group != 0 {
        return Err(Error::Gpu(format!(
            "shader {shader}: binding group {} used; kernels use group 0 only",
            rb.group
        )));
    }
    let kind = match var.space {
        naga::AddressSpace::Uniform => BindingKind::Uniform,
        naga::AddressSpace::Storage { access } => {
            if access.contains(naga::StorageAccess::STORE) {
                BindingKind::StorageReadWrite
            } else {
                BindingKind::StorageRead
            }
        }
        _ => {
            return Err(Error::Gpu(format!(
                "shader {shader}: unsupported resource kind for binding {}",
                rb.binding
            )))
        }
    };
    Ok(BindingInfo {
        name: var.name.clone().unwrap_or_default(),
        binding: rb.binding,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::include::assemble;

    fn files(name: &str) -> Option<&'static str> {
        match name {
            "k.wgsl" => Some("// kernel\n#include \"prelude/p.wgsl\"\n\n@compute @workgroup_size(1)\nfn main() {\n    let x = p_fn();\n}\n"),
            "prelude/p.wgsl" => Some("// prelude\nfn p_fn() -> u32 {\n    return 1u;\n}\n"),
            "broken_prelude.wgsl" => Some("#include \"prelude/broken.wgsl\"\n@compute @workgroup_size(1)\nfn main() {}\n"),
            "prelude/broken.wgsl" => Some("// one\n// two\nfn f() -> u32 {\n    return 1u +;\n}\n"),
            "broken_body.wgsl" => Some("#include \"prelude/p.wgsl\"\n\n@compute @workgroup_size(1)\nfn main() {\n    let y: f32 = p_fn();\n}\n"),
            // A builtin of the wrong type: the parser takes it, the validator does not.
            "invalid_body.wgsl" => Some("#include \"prelude/p.wgsl\"\n\n@compute @workgroup_size(1)\nfn main(@builtin(local_invocation_index) i: f32) {\n}\n"),
            _ => None,
        }
    }

    fn error_of(root: &str) -> String {
        let a = assemble(root, &files).unwrap();
        parse_assembled(&a).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_module_with_a_prelude_parses() {
        let a = assemble("k.wgsl", &files).unwrap();
        let (m, _) = parse_assembled(&a).unwrap();
        assert_eq!(m.entry_points[0].name, "main");
    }

    #[test]
    fn a_parse_error_in_a_prelude_names_the_prelude_and_its_line() {
        let e = error_of("broken_prelude.wgsl");
        assert!(e.starts_with("shaders/prelude/broken.wgsl:4:"), "{e}");
    }

    #[test]
    fn a_parse_error_in_a_shader_body_names_the_shader_and_its_line() {
        let e = error_of("broken_body.wgsl");
        assert!(e.starts_with("shaders/broken_body.wgsl:5:"), "{e}");
    }

    #[test]
    fn a_validation_error_without_a_span_names_the_shader_and_every_cause() {
        let e = error_of("invalid_body.wgsl");
        assert!(
            e.starts_with("shaders/invalid_body.wgsl: Entry point main at Compute is invalid: "),
            "{e}"
        );
        assert!(e.contains("LocalInvocationIndex"), "{e}");
    }
}
