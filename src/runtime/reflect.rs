//! Reads a WGSL module with naga to learn which globals an entry point uses. Kernels are then bound
//! by variable name, so an op's dispatch code cannot get a binding number or an access mode wrong,
//! and every entry point gets an explicit layout holding exactly the buffers it touches.

use super::include::Assembled;
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
pub fn parse_shader(name: &str) -> Result<Parsed> {
    let source = shader_source(name)?;
    let (module, info) = parse_assembled(source)?;
    Ok(Parsed {
        module,
        info,
        source,
    })
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

/// The group-0 bindings used by `shader::entry`, and its workgroup size.
pub fn reflect_entry(shader: &str, entry: &str) -> Result<(Vec<BindingInfo>, [u32; 3])> {
    let Parsed { module, info, .. } = parse_shader(shader)?;
    let (index, ep) = module
        .entry_points
        .iter()
        .enumerate()
        .find(|(_, ep)| ep.name == entry)
        .ok_or_else(|| Error::Gpu(format!("shader {shader}: no entry point `{entry}`")))?;
    let uses = info.get_entry_point(index);
    let mut out = Vec::new();
    for (handle, var) in module.global_variables.iter() {
        let Some(rb) = &var.binding else { continue };
        if uses[handle].is_empty() {
            continue;
        }
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
        let name = var.name.clone().unwrap_or_default();
        out.push(BindingInfo {
            name,
            binding: rb.binding,
            kind,
        });
    }
    out.sort_by_key(|b| b.binding);
    Ok((out, ep.workgroup_size))
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
