//! What a kernel needs from the device (workgroup size, workgroup memory, storage buffers), checked
//! against what the adapter offers when the kernel is compiled, before anything is dispatched:
//! wgpu would otherwise fail pipeline creation with a message that names no limit, or a driver
//! would run the kernel wrong. A pure function of (needs, limits), so it is tested without a GPU.

use crate::error::{Error, Result};

/// What one entry point, compiled with its constants, asks of the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelNeeds {
    pub workgroup_size: [u32; 3],
    /// Bytes of all the `var<workgroup>` arrays the entry point uses.
    pub workgroup_bytes: u32,
    pub storage_buffers: u32,
}

impl KernelNeeds {
    pub fn invocations(&self) -> u64 {
        self.workgroup_size.iter().map(|&d| d as u64).product()
    }
}

/// The first limit `needs` exceeds, as a sentence naming the kernel, what it needs, what the
/// adapter offers and the adapter; Ok when it fits.
pub fn check(
    kernel: &str,
    adapter: &str,
    needs: &KernelNeeds,
    limits: &wgpu::Limits,
) -> Result<()> {
    let [x, y, z] = needs.workgroup_size;
    let over = |what: String, offers: String| {
        Err(Error::Gpu(format!(
            "kernel {kernel} needs {what}, but {adapter} offers {offers}"
        )))
    };
    let dims = [
        ("x", x, limits.max_compute_workgroup_size_x),
        ("y", y, limits.max_compute_workgroup_size_y),
        ("z", z, limits.max_compute_workgroup_size_z),
    ];
    if needs.invocations() > limits.max_compute_invocations_per_workgroup as u64 {
        return over(
            format!(
                "{} invocations per workgroup ({x}x{y}x{z})",
                needs.invocations()
            ),
            format!("at most {}", limits.max_compute_invocations_per_workgroup),
        );
    }
    for (axis, need, max) in dims {
        if need > max {
            return over(
                format!("a workgroup {need} invocations wide in {axis}"),
                format!("at most {max}"),
            );
        }
    }
    if needs.workgroup_bytes > limits.max_compute_workgroup_storage_size {
        return over(
            format!("{} bytes of workgroup memory", needs.workgroup_bytes),
            format!("{} bytes", limits.max_compute_workgroup_storage_size),
        );
    }
    if needs.storage_buffers > limits.max_storage_buffers_per_shader_stage {
        return over(
            format!("{} storage buffers", needs.storage_buffers),
            format!(
                "{} per shader stage",
                limits.max_storage_buffers_per_shader_stage
            ),
        );
    }
    Ok(())
}

/// The fallback for a 1-D kernel whose workgroup is too large: the largest power of two below
/// `size` that the limits allow in x and in total (None when `size` fits, or nothing smaller does).
/// The shaders with an overridable 1-D workgroup are correct for every power of two.
pub fn fallback_workgroup(size: u32, limits: &wgpu::Limits) -> Option<u32> {
    let max = limits
        .max_compute_invocations_per_workgroup
        .min(limits.max_compute_workgroup_size_x);
    if size <= max || max == 0 {
        return None;
    }
    Some(1 << max.ilog2())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn fallback_workgroup_fits() {
        use crate::runtime::fallback_workgroup;
        let mut l = wgpu::Limits::default();
        assert_eq!(fallback_workgroup(256, &l), None);
        l.max_compute_invocations_per_workgroup = 128;
        assert_eq!(fallback_workgroup(256, &l), Some(128));
        l.max_compute_workgroup_size_x = 100;
        assert_eq!(fallback_workgroup(256, &l), Some(64));
    }

    fn needs() -> KernelNeeds {
        KernelNeeds {
            workgroup_size: [256, 1, 1],
            workgroup_bytes: 2048,
            storage_buffers: 10,
        }
    }

    fn error(limits: wgpu::Limits) -> String {
        check("batchnorm::bn_dx", "TestGPU (Vulkan)", &needs(), &limits)
            .unwrap_err()
            .to_string()
    }

    fn roomy() -> wgpu::Limits {
        wgpu::Limits {
            max_storage_buffers_per_shader_stage: 16,
            ..Default::default()
        }
    }

    #[test]
    fn a_kernel_within_the_limits_passes() {
        assert!(check("k", "a", &needs(), &roomy()).is_ok());
    }

    #[test]
    fn too_many_invocations_names_kernel_need_offer_and_adapter() {
        let l = wgpu::Limits {
            max_compute_invocations_per_workgroup: 128,
            ..roomy()
        };
        assert_eq!(
            error(l),
            "kernel batchnorm::bn_dx needs 256 invocations per workgroup (256x1x1), but TestGPU (Vulkan) offers at most 128"
        );
    }

    #[test]
    fn a_dimension_too_wide_is_an_error() {
        let l = wgpu::Limits {
            max_compute_workgroup_size_x: 64,
            ..roomy()
        };
        assert_eq!(
            error(l),
            "kernel batchnorm::bn_dx needs a workgroup 256 invocations wide in x, but TestGPU (Vulkan) offers at most 64"
        );
    }

    #[test]
    fn too_much_workgroup_memory_is_an_error() {
        let l = wgpu::Limits {
            max_compute_workgroup_storage_size: 1024,
            ..roomy()
        };
        assert_eq!(
            error(l),
            "kernel batchnorm::bn_dx needs 2048 bytes of workgroup memory, but TestGPU (Vulkan) offers 1024 bytes"
        );
    }

    #[test]
    fn too_many_storage_buffers_is_an_error() {
        // wgpu's default limits allow 8 per stage.
        assert_eq!(
            error(wgpu::Limits::default()),
            "kernel batchnorm::bn_dx needs 10 storage buffers, but TestGPU (Vulkan) offers 8 per shader stage"
        );
    }

    #[test]
    fn the_fallback_is_the_largest_power_of_two_that_fits() {
        let l = wgpu::Limits {
            max_compute_invocations_per_workgroup: 192,
            ..roomy()
        };
        assert_eq!(fallback_workgroup(256, &l), Some(128));
        assert_eq!(fallback_workgroup(64, &l), None);
    }
}
