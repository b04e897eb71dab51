//! Buffers handed back and forth between the CPU backend's steps.
//!
//! A step allocates the same large tensors every time (activations, im2col patches, GEMM
//! outputs: tens of MB for `convnet`). `vec![0.0; n]` zeroes each one on a single thread, a pass
//! over memory that the op then overwrites anyway: about a tenth of a step on a 2-core machine,
//! where a step is bound by memory bandwidth. The recycler hands a finished step's buffers to the
//! next step instead. Their contents are whatever was there before, so only ops that write every
//! element (or clear their output themselves, in parallel and in cache) take from it.

/// Free buffers, matched by exact length (a step's shapes repeat).
///
/// It keeps no more buffers of a length than were out at once: a buffer is taken back only
/// while a `take` of its length is outstanding, so buffers allocated elsewhere cannot pile up.
pub struct Recycler<T> {
    free: Vec<Vec<T>>,
    /// (length, buffers of that length taken and not yet given back).
    out: Vec<(usize, usize)>,
}

/// Buffers below this many elements are cheaper to allocate than to look up.
const MIN_LEN: usize = 4096;

impl<T: Copy + Default> Default for Recycler<T> {
    fn default() -> Self {
        Self {
            free: Vec::new(),
            out: Vec::new(),
        }
    }
}

impl<T: Copy + Default> Recycler<T> {
    /// A buffer of `len` elements with unspecified contents (a recycled one when there is one).
    pub fn take(&mut self, len: usize) -> Vec<T> {
        if len < MIN_LEN {
            return vec![T::default(); len];
        }
        match self.out.iter_mut().find(|(l, _)| *l == len) {
            Some((_, n)) => *n += 1,
            None => self.out.push((len, 1)),
        }
        match self.free.iter().rposition(|v| v.len() == len) {
            Some(i) => self.free.swap_remove(i),
            None => vec![T::default(); len],
        }
    }

    /// Hands `v` back for a later `take` (dropped unless a take of its length is outstanding).
    pub fn give(&mut self, v: Vec<T>) {
        if let Some((_, n)) = self.out.iter_mut().find(|(l, n)| *l == v.len() && *n > 0) {
            *n -= 1;
            self.free.push(v);
        }
    }

    /// Hands back every buffer of `vs`.
    pub fn give_all(&mut self, vs: impl IntoIterator<Item = Vec<T>>) {
        for v in vs {
            self.give(v);
        }
    }

    /// Buffers currently held.
    pub fn held(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Recycler;

    #[test]
    fn hands_back_a_buffer_of_the_same_length() {
        let mut r = Recycler::<f32>::default();
        let mut v = r.take(5000);
        v[0] = 7.0;
        let p = v.as_ptr();
        r.give(v);
        assert_eq!(r.take(4999).len(), 4999, "another length is a new buffer");
        let again = r.take(5000);
        assert_eq!(
            (again.as_ptr(), again[0]),
            (p, 7.0),
            "the same buffer, contents kept"
        );
    }

    #[test]
    fn keeps_no_more_than_were_out_at_once() {
        let mut r = Recycler::<f32>::default();
        r.give(vec![0.0; 5000]);
        assert_eq!(r.held(), 0, "nothing of that length was taken");
        for _ in 0..10 {
            let (a, b) = (r.take(5000), r.take(5000));
            // Buffers made elsewhere come back too, as an op that allocates its own would.
            r.give_all([a, b, vec![0.0; 5000], vec![0.0; 5000]]);
            assert_eq!(r.held(), 2);
        }
        r.give(vec![0.0; 10]);
        let _ = r.take(10);
        assert_eq!(r.held(), 2, "small buffers are not kept");
    }
}
