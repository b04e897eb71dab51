//! Reads a WGSL module with naga to learn which globals an entry point uses. Kernels are then bound
//! by variable name, so an op's dispatch code cannot get a binding number or an access mode wrong,
//! and every entry point gets an explicit layout holding exactly the buffers it touches.

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

/// Parse and validate `source`, then list the group-0 bindings used by `entry` and its workgroup size.
pub fn reflect_entry(
    shader: &str,
    source: &str,
    entry: &str,
) -> Result<(Vec<BindingInfo>, [u32; 3])> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| Error::Gpu(format!("shader {shader}: {}", e.emit_to_string(source))))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .map_err(|e| Error::Gpu(format!("shader {shader}: {}", e.emit_to_string(source))))?;
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
