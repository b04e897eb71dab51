//! The GPU context: adapter choice, limits, buffer round trips and errors instead of panics.

mod common;
use common::*;
use wgnn_engine::runtime::{adapters, AdapterChoice, AsyncReadback, GpuContext};

#[test]
fn adapter_choice_by_index_and_name() {
    if !has_gpu() {
        return;
    }
    let (list, chosen) = adapters(&AdapterChoice::Auto);
    assert!(!list.is_empty(), "no adapter: install mesa-vulkan-drivers");
    assert_eq!(chosen.unwrap(), 0);
    let by_index = GpuContext::with_adapter(&AdapterChoice::Index(0)).unwrap();
    assert_eq!(by_index.adapter.name, list[0].name);
    let fragment = list[0]
        .name
        .split_whitespace()
        .next()
        .unwrap()
        .to_lowercase();
    let by_name = GpuContext::with_adapter(&AdapterChoice::parse(&fragment)).unwrap();
    assert_eq!(by_name.adapter.name, list[0].name);
    let e = GpuContext::with_adapter(&AdapterChoice::Index(99))
        .err()
        .unwrap()
        .to_string();
    // The message lists the adapters in words, never as a Debug form.
    assert!(e.contains("adapter index 99 is out of range"), "{e}");
    assert!(e.contains(&format!("found (0: {}", list[0])), "{e}");
    assert!(!e.contains("Index("), "{e}");
    let e = GpuContext::with_adapter(&AdapterChoice::Name("no-such-gpu".into()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("no adapter name or backend matches \"no-such-gpu\""),
        "{e}"
    );
    assert!(e.contains(&format!("0: {}", list[0])), "{e}");
    assert_eq!(AdapterChoice::parse("2"), AdapterChoice::Index(2));
    assert_eq!(AdapterChoice::parse("auto"), AdapterChoice::Auto);
}

#[test]
fn device_gets_the_adapters_own_limits() {
    let Some(ctx) = gpu() else { return };
    // wgpu's defaults cap a storage binding at 128 MiB; we ask for what the adapter offers.
    assert!(ctx.max_binding_bytes() >= 128 << 20);
    assert!(ctx.limits.max_compute_workgroups_per_dimension >= 65_535);
    // The typed properties describe the same adapter.
    let a = &ctx.adapter;
    assert_eq!(
        a.limits.max_compute_invocations_per_workgroup,
        ctx.limits.max_compute_invocations_per_workgroup
    );
    assert!(
        a.subgroup_sizes.0 >= 1 && a.subgroup_sizes.0 <= a.subgroup_sizes.1,
        "{:?}",
        a.subgroup_sizes
    );
    assert!(a.details().contains(&a.vendor.to_string()));
}

#[test]
fn buffers_round_trip_and_arenas_align() {
    let Some(ctx) = gpu() else { return };
    let v = rand_vec(1, 1000);
    let t = ctx.tensor(&v, "t").unwrap();
    assert_eq!(ctx.read_f32(&t).unwrap(), v);
    let (whole, views) = ctx.alloc_arena(&[3, 70, 1], "arena").unwrap();
    let align = ctx.limits.min_storage_buffer_offset_alignment as u64;
    for w in &views {
        assert_eq!(w.offset % align, 0);
        assert!(w.offset + w.bytes() <= whole.bytes());
    }
    ctx.write(&views[1], &[7.0f32; 70]).unwrap();
    assert_eq!(ctx.read_f32(&views[1]).unwrap(), vec![7.0; 70]);
    assert!(
        ctx.write(&views[0], &[1.0f32; 4]).is_err(),
        "write past the end of a view"
    );
}

#[test]
fn kernel_misuse_is_an_error() {
    let Some(ctx) = gpu() else { return };
    let t = ctx.alloc(4, "t").unwrap();
    assert!(ctx.dispatch("nope", "main", &[], &[], [1, 1, 1]).is_err());
    assert!(ctx
        .dispatch("elementwise", "nope", &[], &[], [1, 1, 1])
        .is_err());
    let e = ctx
        .dispatch(
            "elementwise",
            "act_forward",
            &[0; 16],
            &[("x", &t)],
            [1, 1, 1],
        )
        .err()
        .unwrap();
    assert!(e.to_string().contains("`y`"), "{e}");
    let e = ctx
        .dispatch(
            "elementwise",
            "fill",
            &[0; 16],
            &[("y", &t)],
            [70_000, 1, 1],
        )
        .err()
        .unwrap();
    assert!(e.to_string().contains("workgroups per dimension"), "{e}");
}

#[test]
fn async_readback_delivers_without_blocking_and_can_be_reused() {
    let Some(ctx) = gpu() else { return };
    let t = ctx.tensor(&[1.5f32, 2.5, 3.5, 4.5], "src").unwrap();
    let rb = AsyncReadback::new(ctx, 4, "rb").unwrap();
    // Nothing in flight: nothing to take.
    assert_eq!(rb.try_take(ctx).unwrap(), None);
    for round in 0..3 {
        let v = [round as f32, 1.0, 2.0, 3.0];
        ctx.write(&t, &v).unwrap();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        rb.record(&mut enc, &t);
        ctx.queue.submit([enc.finish()]);
        rb.submitted();
        // Poll without blocking until the copy has landed (bounded, so a bug fails, not hangs).
        let start = std::time::Instant::now();
        let got = loop {
            if let Some(got) = rb.try_take(ctx).unwrap() {
                break got;
            }
            assert!(start.elapsed().as_secs() < 30, "readback never completed");
            std::thread::yield_now();
        };
        assert_eq!(got, v.map(f32::to_bits));
    }
    // A read still in flight is finished by `settle`, after which the buffer is free again.
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    rb.record(&mut enc, &t);
    ctx.queue.submit([enc.finish()]);
    rb.submitted();
    let want = [2.0f32, 1.0, 2.0, 3.0].map(f32::to_bits).to_vec();
    assert_eq!(rb.settle(ctx).unwrap(), Some(want));
    assert_eq!(rb.settle(ctx).unwrap(), None);
}
