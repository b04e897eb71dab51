//! Batch gathering from packed bytes against the CPU reference, including a short last batch.

mod common;
use common::*;
use wgnn_engine::ops::gather;
use wgnn_engine::ops::step::StepParams;

#[test]
fn gather_matches_reference() {
    let Some(ctx) = gpu() else { return };
    let (n, sample_len, max_batch) = (50usize, 13usize, 8usize);
    let images: Vec<u8> = (0..n * sample_len).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let mut perm: Vec<u32> = (0..n as u32).collect();
    wgnn_engine::util::rng::Rng::new(3).shuffle(&mut perm);
    let g_images = ctx.tensor(&gather::pack_bytes(&images), "images").unwrap();
    let labels32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let g_labels_all = ctx.tensor(&labels32, "labels_all").unwrap();
    let g_perm = ctx.tensor(&perm, "perm").unwrap();
    let g_step = ctx.alloc(8, "step").unwrap();
    let x = ctx.alloc(sample_len * max_batch, "x").unwrap();
    let y = ctx.alloc(max_batch, "y").unwrap();
    let bufs = gather::GatherBuffers {
        images: &g_images,
        labels_all: &g_labels_all,
        perm: &g_perm,
        step: &g_step,
        x: &x,
        labels: &y,
    };
    let d = gather::gather(ctx, sample_len, max_batch, &bufs, gather::Layout::Whole).unwrap();
    for &(offset, batch) in &[(0usize, 8usize), (40, 8), (48, 2)] {
        let s = StepParams {
            batch: batch as u32,
            offset: offset as u32,
            ..Default::default()
        };
        ctx.write(&g_step, bytemuck::bytes_of(&s)).unwrap();
        ctx.run(&[&d]).unwrap();
        let (wx, wl) = gather::gather_cpu(
            &images, &labels, sample_len, &perm, offset, batch, max_batch,
        );
        assert_eq!(ctx.read_f32(&x).unwrap(), wx, "images at offset {offset}");
        assert_eq!(ctx.read_u32(&y).unwrap(), wl, "labels at offset {offset}");
    }
}
