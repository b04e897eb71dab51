//! Random labelled images for whole-graph tests: 12x12x1 bytes (144 per image) and labels below
//! a class count, the same for every run of a seed.

use wgnn_engine::graph::HostData;

pub struct Synthetic {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

pub fn synthetic(n: usize, len: usize, classes: u8) -> Synthetic {
    let mut rng = wgnn_engine::util::rng::Rng::new(11);
    Synthetic {
        images: (0..n * len).map(|_| rng.below(256) as u8).collect(),
        labels: (0..n).map(|_| rng.below(classes as usize) as u8).collect(),
    }
}

/// The set as the graphs take it (images of 144 bytes).
pub fn host(s: &Synthetic) -> HostData {
    HostData::copied(&s.images, &s.labels, 144)
}
