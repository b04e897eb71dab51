//! Where a window sliding along one spatial axis lands, by Keras / TensorFlow rules: shared by the
//! convolutions and the poolings, so `same` padding means one thing for both.

/// Output size and leading padding of one axis for a window of `k` with stride `s`.
/// valid: `(size - k)/s + 1`, None when `k > size`. same: `ceil(size/s)`, with
/// `pad_total = max((out - 1)*s + k - size, 0)` and the odd pixel of padding at the end (bottom /
/// right), as TensorFlow places it. `size` and `s` must be non-zero.
pub fn axis(size: usize, k: usize, s: usize, same: bool) -> Option<(usize, usize)> {
    if same {
        let out = size.div_ceil(s);
        // u128: a huge window or stride gives a huge padding that callers reject, not an overflow.
        let pad_total = ((out as u128 - 1) * s as u128 + k as u128).saturating_sub(size as u128);
        Some((out, usize::try_from(pad_total / 2).unwrap_or(usize::MAX)))
    } else if k > size {
        None
    } else {
        Some(((size - k) / s + 1, 0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn axis() {
        use crate::ops::window::axis;
        assert_eq!(axis(28, 5, 1, false), Some((24, 0)));
        assert_eq!(axis(28, 5, 2, true), Some((14, 1)));
        assert_eq!(axis(3, 4, 1, false), None);
    }
}
