//! `wgnn devices`, `wgnn summary` and `wgnn show`.

use std::path::Path;

use crate::data::{ascii, load_dir};
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::runtime::{adapters, AdapterChoice};

pub fn devices(choice: &AdapterChoice) -> Result<()> {
    let (list, chosen) = adapters(choice);
    if list.is_empty() {
        println!("No GPU adapter found. Install a GPU driver, or `apt-get install -y mesa-vulkan-drivers` for lavapipe (Vulkan on the CPU); `--backend cpu` always works.");
        return Ok(());
    }
    for a in &list {
        let mark = if Some(a.index) == chosen { "*" } else { " " };
        println!("{mark} {}: {a}", a.index);
    }
    match chosen {
        Some(_) => println!("(* = used; choose with --adapter or WGNN_ADAPTER, by index or name)"),
        None => println!("(the requested adapter {choice:?} matches none of these)"),
    }
    Ok(())
}

pub fn summary(spec: &ModelSpec) -> Result<()> {
    print!("{}", spec.summary()?);
    Ok(())
}

pub fn show(data_dir: &Path, index: usize, test: bool) -> Result<()> {
    let data = load_dir(data_dir)?;
    let (set, name) = if test {
        (&data.test, "test")
    } else {
        (&data.train, "train")
    };
    let label = set.label(index).ok_or_else(|| {
        Error::msg(format!(
            "--index {index} is out of range: the {name} set has {} images",
            set.len()
        ))
    })?;
    print!("{}", ascii::render(set.image(index), set.height, set.width));
    println!("{name}[{index}]: label {label}");
    Ok(())
}
