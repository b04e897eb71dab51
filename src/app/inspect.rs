//! `wgnn devices`, `wgnn summary` and `wgnn show`.

use super::device::Device;
use crate::data::ascii;
use crate::error::{Error, Result};
use crate::runtime::{adapters, AdapterChoice};
use crate::util::simd::Isa;

/// Lists the adapters, marking the one `device` selects; a choice that selects none is an error
/// (after the list, so the user sees what there is).
pub fn devices(device: &Device) -> Result<()> {
    let choice = &device.options.adapter;
    let (list, chosen) = adapters(choice);
    if list.is_empty() && *choice == AdapterChoice::Auto {
        println!("No GPU adapter found. Install a GPU driver, or `apt-get install -y mesa-vulkan-drivers` for lavapipe (Vulkan on the CPU); `--backend cpu` always works.");
        println!("{}", cpu_line(device));
        return Ok(());
    }
    let used = chosen.as_ref().ok().copied();
    for a in &list {
        let mark = if Some(a.index) == used { "*" } else { " " };
        println!("{mark} {}: {a}", a.index);
        println!("     {}", a.details());
    }
    chosen?;
    println!("(* = used; choose with --adapter or WGNN_ADAPTER, by index or name)");
    println!("{}", cpu_line(device));
    Ok(())
}

/// The CPU backend's instruction set and the ones this processor offers.
fn cpu_line(device: &Device) -> String {
    let names: Vec<&str> = Isa::available().iter().map(|i| i.name()).collect();
    format!(
        "CPU backend: {} kernels (this processor runs {}; choose with WGNN_CPU_ISA)",
        device.cpu_isa,
        names.join(", ")
    )
}

pub fn summary(model: &str, dataset: Option<&str>) -> Result<()> {
    let mut spec = crate::model::resolve(model)?;
    if let Some(info) = dataset.and_then(crate::data::catalog::find) {
        spec = crate::model::for_data(spec, info.shape, info.classes);
    }
    print!("{}", spec.summary()?);
    Ok(())
}

/// The two sets of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Test,
}

/// The flags of `wgnn show`.
#[derive(clap::Args, Clone, Debug)]
pub struct ShowArgs {
    #[arg(long)]
    pub index: usize,
    #[arg(long, value_enum, default_value_t = Split::Train)]
    pub split: Split,
    #[command(flatten)]
    pub data: super::data::DataArgs,
}

pub fn show(a: &ShowArgs) -> Result<()> {
    let index = a.index;
    let data = a.data.load()?.splits;
    let (set, name) = match a.split {
        Split::Test => (&data.test, "test"),
        Split::Train => (&data.train, "train"),
    };
    let label = set.label(index).ok_or_else(|| {
        Error::msg(format!(
            "--index {index} is out of range: the {name} set has {} images",
            set.len()
        ))
    })?;
    let image = set.image(index);
    match set.channels {
        3 => print!("{}", ascii::render_rgb(image, set.height, set.width)),
        _ => print!("{}", ascii::render(image, set.height, set.width)),
    }
    let class = data.class_names.get(usize::from(label));
    match class.filter(|c| **c != label.to_string()) {
        Some(c) => println!("{name}[{index}]: label {label} ({c})"),
        None => println!("{name}[{index}]: label {label}"),
    }
    Ok(())
}
