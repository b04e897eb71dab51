//! A data set streamed to the GPU rather than held there whole: the host keeps the set (in memory
//! or a mapped file) and, before each submission, uploads that submission's samples in the pass's
//! order into one slot of a small ring of chunk buffers. Every step reads its batch from the chunk
//! as a resident step reads it from the whole set (`gather::Layout::Chunk`), and the samples'
//! indices in the whole set still key augmentation, so a streamed pass sees exactly the batches
//! of a resident one.
//!
//! The ring bounds how far the host runs ahead of the GPU: a slot is refilled only once the
//! submission that last read it has finished, so the host packs chunk k + 1 and k + 2 while the
//! GPU runs chunk k, and at most `RING` chunks of staging memory exist at once.

use super::HostData;
use crate::error::Result;
use crate::ops::augment::Augment;
use crate::ops::gather::{self, GatherBuffers, Layout};
use crate::runtime::{Dispatch, GpuContext, GpuTensor};
use crate::util::bytes::human;

/// Chunk buffers in the ring.
pub const RING: usize = 3;

/// Image bytes per chunk at most (fewer steps per submission for large images or batches).
const CHUNK_BYTES: usize = 32 << 20;

/// Whether a data set lives whole in GPU memory or streams through the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Residency {
    /// Whole when it fits one binding and a quarter of the memory where that is known.
    #[default]
    Auto,
    /// Always streamed (`--stream`): for tests and comparisons.
    Stream,
}

/// Why a set of `bytes` image bytes streams, or None when it is held whole.
pub fn why_stream(
    residency: Residency,
    bytes: u64,
    max_binding: u64,
    memory: Option<u64>,
) -> Option<String> {
    if residency == Residency::Stream {
        return Some("streamed, as asked".into());
    }
    if bytes > max_binding {
        return Some(format!(
            "streamed: its {} are more than one GPU binding holds ({})",
            human(bytes),
            human(max_binding)
        ));
    }
    match memory {
        Some(m) if bytes > m / 4 => Some(format!(
            "streamed: its {} are more than a quarter of the memory ({})",
            human(bytes),
            human(m)
        )),
        _ => None,
    }
}

/// What the gathers write: the step record they read, the input batch and its labels.
pub struct Targets<'a> {
    pub step: &'a GpuTensor,
    pub x: &'a GpuTensor,
    pub labels: &'a GpuTensor,
}

/// One chunk buffer and the gathers that read it.
struct Slot {
    gather: Dispatch,
    gather_augment: Option<Dispatch>,
    images: GpuTensor,
    labels: GpuTensor,
    ids: GpuTensor,
    /// The submission that last read this slot.
    last: Option<wgpu::SubmissionIndex>,
}

pub struct Stream {
    host: HostData,
    slots: Vec<Slot>,
    /// Steps per chunk (one submission).
    pub steps: usize,
    /// Reused for every chunk: the packed images and labels before their upload.
    images: Vec<u8>,
    labels: Vec<u32>,
}

impl Stream {
    /// The ring for `host`, read in batches of `batch` images of shape `image` (`[h, w, c]`), at
    /// most `max_steps` steps per chunk.
    pub fn new(
        ctx: &GpuContext,
        host: HostData,
        (image, batch, max_steps): ([usize; 3], usize, usize),
        to: &Targets<'_>,
        augment: Option<&Augment>,
    ) -> Result<Stream> {
        let len = host.sample_len;
        let steps = (CHUNK_BYTES / (batch * len).max(1)).clamp(1, max_steps.max(1));
        let samples = steps * batch;
        let slots = (0..RING)
            .map(|k| slot(ctx, (image, batch, samples, k), to, augment))
            .collect::<Result<_>>()?;
        Ok(Stream {
            host,
            slots,
            steps,
            images: vec![0; (samples * len).next_multiple_of(4)],
            labels: vec![0; samples],
        })
    }

    /// Samples in the set.
    pub fn len(&self) -> usize {
        self.host.len()
    }

    /// The slot that chunk `k` of a pass uses.
    pub fn slot_of(k: usize) -> usize {
        k % RING
    }

    /// Uploads samples `ids` (one chunk of a pass's order, already checked against the set) into
    /// slot `s`, once the GPU has finished the submission that last read it.
    pub fn fill(&mut self, ctx: &GpuContext, s: usize, ids: &[u32]) -> Result<()> {
        let slot = &mut self.slots[s];
        if let Some(last) = slot.last.take() {
            ctx.wait_for(Some(last))?;
        }
        let len = self.host.sample_len;
        let bytes = (ids.len() * len).next_multiple_of(4);
        let (images, labels) = (&mut self.images[..bytes], &mut self.labels[..ids.len()]);
        let set = (&self.host.images[..], &self.host.labels[..]);
        gather::pack_chunk(set, len, ids, images, labels);
        ctx.write(&slot.images, images)?;
        ctx.write(&slot.labels, labels)?;
        ctx.write(&slot.ids, ids)
    }

    /// The gather of slot `s` (transforming the images when `augment`, if it can).
    pub fn gather(&self, s: usize, augment: bool) -> &Dispatch {
        let slot = &self.slots[s];
        match (augment, &slot.gather_augment) {
            (true, Some(g)) => g,
            _ => &slot.gather,
        }
    }

    /// Whether the gathers can transform images (augmentation was set before the set was loaded).
    pub fn can_augment(&self) -> bool {
        self.slots[0].gather_augment.is_some()
    }

    /// Slot `s` is read by submission `index`.
    pub fn submitted(&mut self, s: usize, index: wgpu::SubmissionIndex) {
        self.slots[s].last = Some(index);
    }
}

/// Chunk buffer `k` of `samples` images and its gathers.
fn slot(
    ctx: &GpuContext,
    (image, batch, samples, k): ([usize; 3], usize, usize, usize),
    to: &Targets<'_>,
    augment: Option<&Augment>,
) -> Result<Slot> {
    let len = image.iter().product::<usize>();
    let images = ctx.alloc(
        (samples * len).div_ceil(4),
        &format!("stream chunk {k} images"),
    )?;
    let labels = ctx.alloc(samples, &format!("stream chunk {k} labels"))?;
    let ids = ctx.alloc(samples, &format!("stream chunk {k} indices"))?;
    let b = GatherBuffers {
        images: &images,
        labels_all: &labels,
        perm: &ids,
        step: to.step,
        x: to.x,
        labels: to.labels,
    };
    let gather = gather::gather(ctx, len, batch, &b, Layout::Chunk)?;
    let gather_augment = augment
        .map(|a| gather::gather_augment(ctx, image, batch, a, &b, Layout::Chunk))
        .transpose()?;
    Ok(Slot {
        gather,
        gather_augment,
        images,
        labels,
        ids,
        last: None,
    })
}

#[cfg(test)]
mod tests {
    use super::{why_stream, Residency};

    #[test]
    fn a_set_streams_when_asked_too_big_for_a_binding_or_a_quarter_of_the_memory() {
        let mib = 1 << 20;
        assert_eq!(
            why_stream(Residency::Auto, 100 * mib, 128 * mib, None),
            None
        );
        let asked = why_stream(Residency::Stream, 1, 128 * mib, None).unwrap();
        assert_eq!(asked, "streamed, as asked");
        let big = why_stream(Residency::Auto, 180 * mib, 128 * mib, None).unwrap();
        assert!(
            big.contains("180.0 MiB") && big.contains("128.0 MiB"),
            "{big}"
        );
        let memory = why_stream(Residency::Auto, 100 * mib, 1 << 40, Some(256 * mib)).unwrap();
        assert!(
            memory.contains("a quarter of the memory (256.0 MiB)"),
            "{memory}"
        );
        assert_eq!(
            why_stream(Residency::Auto, 64 * mib, 1 << 40, Some(256 * mib)),
            None
        );
    }
}
