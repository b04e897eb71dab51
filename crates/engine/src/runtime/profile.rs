//! Where a GPU step's time goes: seconds per dispatch, from GPU timestamp queries around each
//! dispatch where the adapter has them, else the wall clock with a wait after each. `wgnn bench
//! --profile` and kernel tuning read a step through this.

use super::context::GpuContext;
use super::kernel::Dispatch;
use super::tensor::GpuTensor;
use crate::error::Result;

/// Seconds each of `list` takes, run once in order, named by dispatch.
pub fn time_each(ctx: &GpuContext, list: &[&Dispatch]) -> Result<Vec<(String, f64)>> {
    if !ctx.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        let mut out = Vec::new();
        for d in list {
            let t0 = std::time::Instant::now();
            ctx.run(&[d])?;
            out.push((d.name.clone(), t0.elapsed().as_secs_f64()));
        }
        return Ok(out);
    }
    let count = 2 * list.len() as u32;
    let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("profile"),
        ty: wgpu::QueryType::Timestamp,
        count,
    });
    let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("profile timestamps"),
        size: count as u64 * 8,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    for (i, d) in list.iter().enumerate() {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&d.name),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: &queries,
                beginning_of_pass_write_index: Some(2 * i as u32),
                end_of_pass_write_index: Some(2 * i as u32 + 1),
            }),
        });
        d.record(&mut pass);
    }
    enc.resolve_query_set(&queries, 0..count, &resolve, 0);
    ctx.queue.submit([enc.finish()]);
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&ctx.read_bytes(&GpuTensor {
        buffer: std::sync::Arc::new(resolve),
        offset: 0,
        len: 2 * count as usize,
    })?);
    let period = ctx.queue.get_timestamp_period() as f64 * 1e-9;
    Ok(list
        .iter()
        .zip(ticks.chunks_exact(2))
        .map(|(d, t)| (d.name.clone(), t[1].saturating_sub(t[0]) as f64 * period))
        .collect())
}
