//! Batch gathering from the dataset's bytes on the GPU: the whole set resident, or one streamed
//! chunk of it. Kernel: `shaders/gather.wgsl`; tests: `crates/engine/tests/ops_gather.rs`.

use bytemuck::{Pod, Zeroable};

use super::augment::{gather_augment_cpu, Augment};
use super::check_case::{nan_tensor, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink};
use super::step::StepParams;
use crate::error::{Error, Result};
use crate::runtime::{Dispatch, GpuContext, GpuTensor, Work};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    sample_len: u32,
    max_batch: u32,
    h: u32,
    w: u32,
    c: u32,
    shift: f32,
    rotate: f32,
    scale: f32,
    chunk: u32,
}

/// What the gather's `images` and `labels_all` hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The whole set: `perm` indexes it.
    Whole,
    /// A streamed chunk (`pack_chunk`): the chunk's samples one after another in the order the
    /// steps take them; `perm` holds their indices in the whole set, which key augmentation.
    Chunk,
}

/// Samples `ids` of a set (`images` of `sample_len` bytes each) one after another into
/// `out_images` (zero-padded to its length) and their labels into `out_labels`: a streamed
/// chunk, as `Layout::Chunk` reads it. Ids outside the set are the caller's error, checked before.
pub fn pack_chunk(
    (images, labels): (&[u8], &[u8]),
    sample_len: usize,
    ids: &[u32],
    out_images: &mut [u8],
    out_labels: &mut [u32],
) {
    for ((&s, dst), l) in ids
        .iter()
        .zip(out_images.chunks_exact_mut(sample_len.max(1)))
        .zip(out_labels.iter_mut())
    {
        let s = s as usize;
        dst.copy_from_slice(&images[s * sample_len..(s + 1) * sample_len]);
        *l = u32::from(labels[s]);
    }
    out_images[ids.len() * sample_len..].fill(0);
}

/// Images as bytes packed four to a u32 word, little-endian (so the GPU reads them unconverted).
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

/// x [max_batch, sample_len] in [0, 1] and labels [max_batch] for samples perm[offset..offset+batch];
/// padding rows are zero.
pub fn gather_cpu(
    images: &[u8],
    labels_all: &[u8],
    sample_len: usize,
    perm: &[u32],
    offset: usize,
    batch: usize,
    max_batch: usize,
) -> (Vec<f32>, Vec<u32>) {
    let mut x = vec![0f32; max_batch * sample_len];
    let mut labels = vec![0u32; max_batch];
    for b in 0..batch.min(max_batch) {
        let s = perm[offset + b] as usize;
        let src = &images[s * sample_len..(s + 1) * sample_len];
        for (d, &v) in x[b * sample_len..(b + 1) * sample_len].iter_mut().zip(src) {
            *d = v as f32 / 255.0;
        }
        labels[b] = labels_all[s] as u32;
    }
    (x, labels)
}

pub struct GatherBuffers<'a> {
    pub images: &'a GpuTensor,
    pub labels_all: &'a GpuTensor,
    pub perm: &'a GpuTensor,
    pub step: &'a GpuTensor,
    pub x: &'a GpuTensor,
    pub labels: &'a GpuTensor,
}

pub fn gather(
    ctx: &GpuContext,
    sample_len: usize,
    max_batch: usize,
    b: &GatherBuffers,
    layout: Layout,
) -> Result<Dispatch> {
    if b.x.len < sample_len * max_batch || b.labels.len < max_batch {
        return Err(Error::Msg(format!(
            "gather: batch buffers too small for {max_batch} samples of {sample_len}"
        )));
    }
    let p = Params {
        sample_len: sample_len as u32,
        max_batch: max_batch as u32,
        chunk: u32::from(layout == Layout::Chunk),
        ..Params::zeroed()
    };
    dispatch(ctx, "gather", &p, b)
}

fn dispatch(ctx: &GpuContext, entry: &str, p: &Params, b: &GatherBuffers) -> Result<Dispatch> {
    let d = ctx.dispatch_1d(
        "gather",
        entry,
        bytemuck::bytes_of(p),
        &[
            ("images", b.images),
            ("labels_all", b.labels_all),
            ("perm", b.perm),
            ("step", b.step),
            ("x", b.x),
            ("labels", b.labels),
        ],
        (p.sample_len * p.max_batch) as usize,
    )?;
    // It reads one byte per value of the batch (the bound data set is much larger), and writes
    // the batch as floats with its labels.
    let bytes = b.x.len as u64 + b.x.bytes() + 2 * b.labels.bytes();
    Ok(d.with_work(Work {
        serial: 1,
        loads: 1,
        bytes: Some(bytes),
        ..Work::default()
    }))
}

/// `gather` with each training image transformed as `augment::gather_augment_cpu` does; seed and
/// t come from the `step` record. `image` is [h, w, c] with h * w * c == sample_len.
pub fn gather_augment(
    ctx: &GpuContext,
    image: [usize; 3],
    max_batch: usize,
    a: &crate::ops::augment::Augment,
    b: &GatherBuffers,
    layout: Layout,
) -> Result<Dispatch> {
    let [h, w, c] = image;
    let sample_len = h * w * c;
    if sample_len == 0 || b.x.len < sample_len * max_batch || b.labels.len < max_batch {
        return Err(Error::Msg(format!(
            "gather: batch buffers too small for {max_batch} images of {h}x{w}x{c}"
        )));
    }
    let p = Params {
        sample_len: sample_len as u32,
        max_batch: max_batch as u32,
        h: h as u32,
        w: w as u32,
        c: c as u32,
        shift: a.shift,
        rotate: a.rotate,
        scale: a.scale,
        chunk: u32::from(layout == Layout::Chunk),
    };
    dispatch(ctx, "gather_augment", &p, b)
}

/// The checks of `wgnn check` and the tests: the batch gather from the dataset bytes, plain and
/// with random affine transforms (a short batch at an offset into the permutation; padding rows
/// must be zero).
pub const CHECK: OpCheck = OpCheck {
    op: "gather",
    runs: Runs::Once(checks),
    models: ModelLayers::None,
};

/// (h, w, c, seed, step, augmentation; empty: the plain gather).
type GatherCase = (usize, usize, usize, u64, u32, &'static str);

const CHECK_CASES: [GatherCase; 5] = [
    (28, 28, 1, 42, 1, ""),
    (28, 28, 1, 42, 1, "shift=2,rotate=10,scale=0.1"),
    (7, 5, 3, 7 + (1 << 40), 9, "shift=1.5,rotate=30,scale=0.2"),
    // CIFAR's colour images: the same transform for every channel.
    (32, 32, 3, 42, 1, ""),
    (32, 32, 3, 5, 2, "shift=2,rotate=10,scale=0.1"),
];

fn checks(env: &Env, out: Sink) -> Result<()> {
    for case in CHECK_CASES {
        for layout in [Layout::Whole, Layout::Chunk] {
            check_one(env.ctx, case, layout, out)?;
        }
    }
    Ok(())
}

/// The bytes and labels the gather reads: the whole set, or the chunk a streamed pass over `perm`
/// uploads (every sample of the permutation, in its order).
fn source(
    (images, labels): (&[u8], &[u8]),
    len: usize,
    perm: &[u32],
    layout: Layout,
) -> (Vec<u8>, Vec<u32>) {
    match layout {
        Layout::Whole => (images.to_vec(), labels.iter().map(|&l| l as u32).collect()),
        Layout::Chunk => {
            let mut chunk = (vec![0; perm.len() * len], vec![0; perm.len()]);
            pack_chunk((images, labels), len, perm, &mut chunk.0, &mut chunk.1);
            chunk
        }
    }
}

fn check_one(ctx: &GpuContext, case: GatherCase, layout: Layout, out: Sink) -> Result<()> {
    let (h, w, c, seed, t, spec) = case;
    let (n, max_batch, batch) = (20usize, 8usize, 6usize);
    let len = h * w * c;
    let images: Vec<u8> = (0..n * len).map(|i| (i * 73 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let perm: Vec<u32> = (0..n as u32).rev().collect();
    let (src_images, src_labels) = source((&images, &labels), len, &perm, layout);
    let (lo, hi) = StepParams::seed_words(seed);
    let step = StepParams {
        batch: batch as u32,
        t,
        seed: lo,
        seed_hi: hi,
        offset: 4,
        ..Default::default()
    };
    let (gi, gl, gp, gs) = (
        ctx.tensor(&pack_bytes(&src_images), "images")?,
        ctx.tensor(&src_labels, "labels_all")?,
        ctx.tensor(&perm, "perm")?,
        ctx.tensor(bytemuck::bytes_of(&step), "step")?,
    );
    let gx = nan_tensor(ctx, len * max_batch, "x")?;
    let gy = ctx.alloc(max_batch, "labels")?;
    let bufs = GatherBuffers {
        images: &gi,
        labels_all: &gl,
        perm: &gp,
        step: &gs,
        x: &gx,
        labels: &gy,
    };
    let (d, (wx, wl), what) = if spec.is_empty() {
        (
            gather(ctx, len, max_batch, &bufs, layout)?,
            gather_cpu(&images, &labels, len, &perm, 4, batch, max_batch),
            "gather::gather".to_string(),
        )
    } else {
        let a: Augment = spec.parse()?;
        let d = gather_augment(ctx, [h, w, c], max_batch, &a, &bufs, layout)?;
        let want = gather_augment_cpu(
            &images,
            &labels,
            [h, w, c],
            &perm,
            4,
            batch,
            max_batch,
            seed,
            t,
            &a,
        );
        (d, want, format!("gather::gather_augment {spec}"))
    };
    let ms = timed(ctx, &[&d])?;
    let mut got = ctx.read_f32(&gx)?;
    got.extend(ctx.read_u32(&gy)?.iter().map(|&l| l as f32));
    let mut want = wx;
    want.extend(wl.iter().map(|&l| l as f32));
    let what = match layout {
        Layout::Whole => what,
        Layout::Chunk => format!("{what} (streamed chunk)"),
    };
    out(Output {
        kernel: what,
        shape: format!("{batch} of {max_batch} rows of {h}x{w}x{c}"),
        got,
        want,
        ms,
    });
    Ok(())
}
