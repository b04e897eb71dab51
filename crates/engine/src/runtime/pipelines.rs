//! The context's kernel cache: a pipeline compiled per shader entry point and constants on first
//! use, fitted to the adapter's limits, and the dispatches recorded with it.

use super::config::Constants;
use super::context::GpuContext;
use super::cost::Cost;
use super::kernel::{grid_1d, Dispatch, Kernel, PARAMS};
use super::limits_check::{check, fallback_workgroup};
use super::reflect::{reflect_entry, shader_constant, BindingKind, EntryInfo};
use super::shaders::shader_source;
use super::tensor::GpuTensor;
use super::tile_check::{check_tile, smaller_tile};
use crate::error::{Error, Result};
use std::sync::Arc;

impl GpuContext {
    /// The pipeline for `shader::entry` with the constants of `self.config`, compiled on first
    /// use. A 1-D workgroup larger than the adapter allows is lowered to the largest power of two
    /// that fits; any other need over a limit is an error naming the kernel and the limit.
    pub fn kernel(&self, shader: &str, entry: &str) -> Result<Arc<Kernel>> {
        let asked = self.config.constants(shader, entry);
        let key = (shader.to_string(), entry.to_string(), asked.key());
        if let Some(k) = self.kernels.lock().map_err(|_| poisoned())?.get(&key) {
            return Ok(k.clone());
        }
        let source = &shader_source(shader)?.source;
        let info = self.fitted(shader, entry, asked)?;
        let name = format!("{shader}::{entry}");
        let constants: Vec<(&str, f64)> = info.constants.iter().collect();
        let entries: Vec<wgpu::BindGroupLayoutEntry> = info
            .bindings
            .iter()
            .map(|b| wgpu::BindGroupLayoutEntry {
                binding: b.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match b.kind {
                        BindingKind::Uniform => wgpu::BufferBindingType::Uniform,
                        BindingKind::StorageRead => {
                            wgpu::BufferBindingType::Storage { read_only: true }
                        }
                        BindingKind::StorageReadWrite => {
                            wgpu::BufferBindingType::Storage { read_only: false }
                        }
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&name),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&name),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(shader),
                source: wgpu::ShaderSource::Wgsl(source.as_str().into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    ..Default::default()
                },
                cache: None,
            });
        self.check()?;
        let k = Arc::new(Kernel {
            name,
            pipeline,
            layout,
            bindings: info.bindings,
            needs: info.needs,
            constants: info.constants,
        });
        self.kernels
            .lock()
            .map_err(|_| poisoned())?
            .insert(key, k.clone());
        Ok(k)
    }

    /// The override constants of every kernel compiled so far, each with the values it took:
    /// `WG=256 WG_BLOCK=64` (`WG=128,256` where kernels differ), or `none` before any kernel.
    pub fn constants_in_use(&self) -> Result<String> {
        let mut used: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for k in self.kernels.lock().map_err(|_| poisoned())?.values() {
            for (name, v) in k.constants.iter() {
                used.entry(name.to_string())
                    .or_default()
                    .insert(v.to_string());
            }
        }
        if used.is_empty() {
            return Ok("none".into());
        }
        let each: Vec<String> = used
            .iter()
            .map(|(n, vs)| format!("{n}={}", vs.iter().cloned().collect::<Vec<_>>().join(",")))
            .collect();
        Ok(each.join(" "))
    }

    /// Every kernel compiled so far (`shader::entry`) with the constants it was compiled with,
    /// in name order; a kernel compiled with several sets appears once per set.
    pub fn compiled_kernels(&self) -> Result<Vec<(String, Constants)>> {
        let mut all: Vec<(String, Constants)> = self
            .kernels
            .lock()
            .map_err(|_| poisoned())?
            .values()
            .map(|k| (k.name.clone(), k.constants.clone()))
            .collect();
        all.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.to_string().cmp(&b.1.to_string()))
        });
        Ok(all)
    }

    /// `shader::entry` reflected with `asked`, checked against the device's limits, with the
    /// workgroup-size fallback applied where the limits call for it.
    fn fitted(&self, shader: &str, entry: &str, mut asked: Constants) -> Result<EntryInfo> {
        let mut info = reflect_entry(shader, entry, &asked)?;
        let smaller = info.size_override.clone().and_then(|o| {
            Some((
                o,
                fallback_workgroup(info.needs.workgroup_size[0], &self.limits)?,
            ))
        });
        if let Some((over, size)) = smaller {
            asked.set(&over, size as f64);
            info = reflect_entry(shader, entry, &asked)?;
        }
        let name = format!("{shader}::{entry}");
        if let (Some(tile), Some(bk)) = (info.constants.get("TILE"), info.constants.get("BK")) {
            let max_loads = shader_constant(shader, "MAX_LOADS")?;
            if let Some(t) = smaller_tile(tile as u32, bk as u32, max_loads, &self.limits) {
                asked.set("TILE", t as f64);
                info = reflect_entry(shader, entry, &asked)?;
            }
            let tile = info.constants.get("TILE").unwrap_or(tile);
            check_tile(&name, tile as u32, bk as u32, max_loads)?;
        }
        check(&name, &self.adapter.to_string(), &info.needs, &self.limits)?;
        Ok(info)
    }

    /// The output tile side (`TILE`) tiled kernel `shader::entry` is compiled with here: its grid
    /// has one workgroup per tile.
    pub fn tile(&self, shader: &str, entry: &str) -> Result<usize> {
        let kernel = self.kernel(shader, entry)?;
        match kernel.constants.get("TILE") {
            Some(t) => Ok(t as usize),
            None => Err(Error::Gpu(format!(
                "{}: not a tiled kernel (it declares no TILE)",
                kernel.name
            ))),
        }
    }

    /// A launch of 1-D kernel `shader::entry` over `n` invocations: the grid comes from the
    /// kernel's workgroup size as compiled (see [`grid_1d`]), never from a size written twice.
    pub fn dispatch_1d(
        &self,
        shader: &str,
        entry: &str,
        params: &[u8],
        bind: &[(&str, &GpuTensor)],
        n: usize,
    ) -> Result<Dispatch> {
        let kernel = self.kernel(shader, entry)?;
        let [x, y, z] = kernel.workgroup_size();
        if y != 1 || z != 1 {
            return Err(Error::Gpu(format!(
                "{}: a {x}x{y}x{z} workgroup is not 1-D, so it takes a grid, not a count",
                kernel.name
            )));
        }
        self.dispatch(shader, entry, params, bind, grid_1d(n, x))
    }

    /// Build a launch of `shader::entry` over `groups` workgroups. `params` fills the uniform `p`
    /// (a `#[repr(C)]` Pod struct matching the WGSL one); `bind` maps storage variable names to
    /// tensors. Names the entry point does not use are ignored, so callers may pass a superset.
    pub fn dispatch(
        &self,
        shader: &str,
        entry: &str,
        params: &[u8],
        bind: &[(&str, &GpuTensor)],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let kernel = self.kernel(shader, entry)?;
        let lim = self.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > lim) {
            return Err(Error::Gpu(format!(
                "{}: a grid of {}x{}x{} workgroups exceeds the device limit of {lim} workgroups per dimension",
                kernel.name, groups[0], groups[1], groups[2]
            )));
        }
        let mut params_buf = None;
        let mut entries = Vec::with_capacity(kernel.bindings.len());
        for b in &kernel.bindings {
            if b.kind == BindingKind::Uniform {
                if b.name != PARAMS {
                    return Err(Error::Gpu(format!(
                        "{}: uniform `{}` (the parameter uniform must be named `{PARAMS}`)",
                        kernel.name, b.name
                    )));
                }
                params_buf = Some(self.uniform(params, &kernel.name)?);
                continue;
            }
            let t = bind
                .iter()
                .find(|(n, _)| *n == b.name)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    Error::Gpu(format!("{}: no tensor bound to `{}`", kernel.name, b.name))
                })?;
            entries.push((b.binding, t));
        }
        let mut desc_entries: Vec<wgpu::BindGroupEntry> = entries
            .iter()
            .map(|(binding, t)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: t.binding(),
            })
            .collect();
        if let (Some(buf), Some(b)) = (
            &params_buf,
            kernel
                .bindings
                .iter()
                .find(|b| b.kind == BindingKind::Uniform),
        ) {
            desc_entries.push(wgpu::BindGroupEntry {
                binding: b.binding,
                resource: buf.as_entire_binding(),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&kernel.name),
            layout: &kernel.layout,
            entries: &desc_entries,
        });
        self.check()?;
        let bytes = entries.iter().map(|(_, t)| t.bytes()).sum();
        let cost = Cost::launch(groups, kernel.workgroup_size(), bytes);
        Ok(Dispatch {
            name: kernel.name.clone(),
            kernel,
            bind_group,
            _params: params_buf,
            groups,
            cost,
        })
    }

    /// Record `dispatches` in order into one compute pass of `enc`.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder, dispatches: &[&Dispatch]) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        for d in dispatches {
            d.record(&mut pass);
        }
    }

    /// Run `dispatches` in order and wait for them (tests and one-off work; training records many
    /// steps into one submission instead).
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<()> {
        let mut enc = self.device.create_command_encoder(&Default::default());
        self.record(&mut enc, dispatches);
        self.queue.submit([enc.finish()]);
        self.wait()
    }
}

fn poisoned() -> Error {
    Error::Gpu("kernel cache lock poisoned".into())
}
