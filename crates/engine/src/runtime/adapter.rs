//! An adapter's properties as typed data: vendor, kind of device, subgroup sizes and the limits
//! the kernels depend on. Decisions (kernel family, memory accounting, adapter ranking) match on
//! these types, never on the words they print as. Also which adapter a choice (auto, an index, a
//! name fragment or a backend) selects.

use crate::error::{Error, Result};

/// Who made the device, from the PCI vendor id the driver reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Nvidia,
    Amd,
    Intel,
    Apple,
    Arm,
    Qualcomm,
    /// Mesa's software drivers (lavapipe, llvmpipe) report Mesa's Khronos vendor id.
    Mesa,
    Unknown(u32),
}

impl Vendor {
    pub fn from_id(id: u32) -> Self {
        match id {
            0x10de => Self::Nvidia,
            0x1002 => Self::Amd,
            0x8086 => Self::Intel,
            0x106b => Self::Apple,
            0x13b5 => Self::Arm,
            0x5143 => Self::Qualcomm,
            0x10005 => Self::Mesa,
            other => Self::Unknown(other),
        }
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nvidia => f.write_str("NVIDIA"),
            Self::Amd => f.write_str("AMD"),
            Self::Intel => f.write_str("Intel"),
            Self::Apple => f.write_str("Apple"),
            Self::Arm => f.write_str("Arm"),
            Self::Qualcomm => f.write_str("Qualcomm"),
            Self::Mesa => f.write_str("Mesa"),
            Self::Unknown(id) => write!(f, "vendor {id:#06x}"),
        }
    }
}

/// What kind of device an adapter is, in the order adapters are preferred (fastest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceKind {
    DiscreteGpu,
    IntegratedGpu,
    VirtualGpu,
    Other,
    /// A software driver (lavapipe, llvmpipe) that runs on the CPU and uses the host's memory.
    Cpu,
}

impl From<wgpu::DeviceType> for DeviceKind {
    fn from(t: wgpu::DeviceType) -> Self {
        match t {
            wgpu::DeviceType::DiscreteGpu => Self::DiscreteGpu,
            wgpu::DeviceType::IntegratedGpu => Self::IntegratedGpu,
            wgpu::DeviceType::VirtualGpu => Self::VirtualGpu,
            wgpu::DeviceType::Other => Self::Other,
            wgpu::DeviceType::Cpu => Self::Cpu,
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DiscreteGpu => "discrete GPU",
            Self::IntegratedGpu => "integrated GPU",
            Self::VirtualGpu => "virtual GPU",
            Self::Other => "other device",
            Self::Cpu => "CPU",
        })
    }
}

/// The graphics API in words, as people write it.
pub fn backend_name(b: wgpu::Backend) -> &'static str {
    match b {
        wgpu::Backend::Vulkan => "Vulkan",
        wgpu::Backend::Metal => "Metal",
        wgpu::Backend::Dx12 => "DX12",
        wgpu::Backend::Gl => "GL",
        wgpu::Backend::BrowserWebGpu => "WebGPU",
        wgpu::Backend::Noop => "no-op",
    }
}

#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: DeviceKind,
    pub vendor: Vendor,
    pub driver: String,
    /// Smallest and largest subgroup (warp, wavefront) the adapter may run.
    pub subgroup_sizes: (u32, u32),
    /// What the adapter offers; `GpuContext` asks for all of it.
    pub limits: wgpu::Limits,
}

impl AdapterSummary {
    pub fn new(index: usize, a: &wgpu::Adapter) -> Self {
        let i = a.get_info();
        Self {
            index,
            name: i.name,
            backend: backend_name(i.backend).to_string(),
            device_type: i.device_type.into(),
            vendor: Vendor::from_id(i.vendor),
            driver: [i.driver, i.driver_info]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            subgroup_sizes: (i.subgroup_min_size, i.subgroup_max_size),
            limits: a.limits(),
        }
    }

    /// A software driver (lavapipe, llvmpipe) that runs on the CPU and uses the host's memory.
    pub fn is_cpu(&self) -> bool {
        self.device_type == DeviceKind::Cpu
    }

    /// The properties the kernels depend on, in one line:
    /// "Mesa; subgroups 8-8; workgroups up to 1024 invocations (1024x1024x1024), 32.0 KiB shared;
    /// 32 storage buffers per stage; 128.0 MiB per binding".
    pub fn details(&self) -> String {
        let l = &self.limits;
        let (lo, hi) = self.subgroup_sizes;
        format!(
            "{}; subgroups {lo}-{hi}; workgroups up to {} invocations ({}x{}x{}), {} shared; {} storage buffers per stage; {} per binding",
            self.vendor,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_size_x,
            l.max_compute_workgroup_size_y,
            l.max_compute_workgroup_size_z,
            crate::util::bytes::human(l.max_compute_workgroup_storage_size as u64),
            l.max_storage_buffers_per_shader_stage,
            crate::util::bytes::human(l.max_storage_buffer_binding_size.min(l.max_buffer_size)),
        )
    }
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {}", self.name, self.backend, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(f, ")")
    }
}

// The command line adds how to choose its CPU backend (`Error::NoAdapter`).
const NO_ADAPTER_HINT: &str =
    "no GPU adapter found. Install a GPU driver with Vulkan, Metal or DX12 \
support, or Mesa's CPU Vulkan driver (`apt-get install -y mesa-vulkan-drivers` gives lavapipe)";

/// Which adapter to use: the highest-performance one, or one picked by index or name.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum AdapterChoice {
    #[default]
    Auto,
    Index(usize),
    /// Case-insensitive substring of the adapter name, or a backend (`vulkan`, `gl`, ...).
    Name(String),
}

impl AdapterChoice {
    /// An index, `auto`, or else a name fragment:
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            Self::Auto
        } else if let Ok(i) = s.parse() {
            Self::Index(i)
        } else {
            Self::Name(s.to_string())
        }
    }
}

pub(super) fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Adapters able to run compute, listed in a stable order, with the index `choose` would pick.
pub(super) fn list(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    let mut v: Vec<wgpu::Adapter> =
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .into_iter()
            .filter(|a| a.get_info().backend != wgpu::Backend::Noop)
            .collect();
    // Highest performance first (discrete, integrated, virtual, other, CPU); stable otherwise.
    v.sort_by_key(|a| DeviceKind::from(a.get_info().device_type));
    v
}

/// Every adapter wgpu sees, and the index that `choice` selects (an error naming the choice and
/// the adapters when it selects nothing).
pub fn adapters(choice: &AdapterChoice) -> (Vec<AdapterSummary>, Result<usize>) {
    let all = list(&instance());
    let chosen = choose(&all, choice);
    (
        all.iter()
            .enumerate()
            .map(|(i, a)| AdapterSummary::new(i, a))
            .collect(),
        chosen,
    )
}

/// Checks that `choice` selects an adapter, so a mistyped `--adapter` fails every command, even
/// one that would run on the CPU. `Auto` always passes (no adapter is then not an error).
pub fn check_choice(choice: &AdapterChoice) -> Result<()> {
    if *choice == AdapterChoice::Auto {
        return Ok(());
    }
    adapters(choice).1.map(|_| ())
}

/// "2 adapters found (0: llvmpipe (Vulkan, CPU), 1: ...)".
fn found(all: &[wgpu::Adapter]) -> String {
    let each: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{i}: {}", AdapterSummary::new(i, a)))
        .collect();
    let s = if all.len() == 1 { "" } else { "s" };
    format!("{} adapter{s} found ({})", all.len(), each.join(", "))
}

pub(super) fn choose(all: &[wgpu::Adapter], choice: &AdapterChoice) -> Result<usize> {
    if all.is_empty() {
        return Err(Error::NoAdapter(match choice {
            AdapterChoice::Auto => NO_ADAPTER_HINT.into(),
            AdapterChoice::Index(i) => {
                format!("adapter index {i} was asked for, but {NO_ADAPTER_HINT}")
            }
            AdapterChoice::Name(n) => {
                format!("adapter \"{n}\" was asked for, but {NO_ADAPTER_HINT}")
            }
        }));
    }
    match choice {
        AdapterChoice::Auto => Ok(0),
        AdapterChoice::Index(i) if *i < all.len() => Ok(*i),
        AdapterChoice::Index(i) => Err(Error::Gpu(format!(
            "adapter index {i} is out of range: {}",
            found(all)
        ))),
        AdapterChoice::Name(n) => {
            // A name fragment, else a backend (`gl`, `vulkan`): lavapipe and llvmpipe's GL
            // adapter share one name.
            let lower = n.to_lowercase();
            all.iter()
                .position(|a| a.get_info().name.to_lowercase().contains(&lower))
                .or_else(|| {
                    all.iter().position(|a| {
                        backend_name(a.get_info().backend).eq_ignore_ascii_case(&lower)
                    })
                })
                .ok_or_else(|| {
                    Error::Gpu(format!(
                        "no adapter name or backend matches \"{n}\": {}",
                        found(all)
                    ))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn vendor_from_id() {
        use crate::runtime::Vendor;
        assert_eq!(Vendor::from_id(0x10de), Vendor::Nvidia);
        assert_eq!(Vendor::from_id(0x10005), Vendor::Mesa);
        assert_eq!(Vendor::from_id(0x1234).to_string(), "vendor 0x1234");
    }

    #[test]
    fn adapter_choice_parse() {
        use crate::runtime::AdapterChoice;
        assert_eq!(AdapterChoice::parse("1"), AdapterChoice::Index(1));
        assert_eq!(AdapterChoice::parse(" auto "), AdapterChoice::Auto);
        assert_eq!(
            AdapterChoice::parse("NVIDIA"),
            AdapterChoice::Name("NVIDIA".into())
        );
    }

    #[test]
    fn every_known_vendor_id_has_its_name() {
        for (id, name) in [
            (0x10de, "NVIDIA"),
            (0x1002, "AMD"),
            (0x8086, "Intel"),
            (0x106b, "Apple"),
            (0x13b5, "Arm"),
            (0x5143, "Qualcomm"),
            (0x10005, "Mesa"),
            (0xabcd, "vendor 0xabcd"),
        ] {
            assert_eq!(Vendor::from_id(id).to_string(), name);
        }
    }

    #[test]
    fn device_kinds_rank_fastest_first_and_print_as_words() {
        assert!(DeviceKind::DiscreteGpu < DeviceKind::IntegratedGpu);
        assert!(DeviceKind::Other < DeviceKind::Cpu);
        assert_eq!(DeviceKind::from(wgpu::DeviceType::Cpu), DeviceKind::Cpu);
        assert_eq!(DeviceKind::Cpu.to_string(), "CPU");
        assert_eq!(DeviceKind::DiscreteGpu.to_string(), "discrete GPU");
    }
}
