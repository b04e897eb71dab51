//! Bytes shared without copying: a vector or a read-only file mapping, seen through a range, so
//! a validation split, a `--limit` and both backends can hold the same data set at no cost.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// A cheap-to-clone view of immutable bytes.
#[derive(Clone)]
pub struct Shared {
    owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
    range: Range<usize>,
}

impl Shared {
    /// All of `owner`'s bytes (a `Vec<u8>`, a memory map...).
    pub fn new(owner: impl AsRef<[u8]> + Send + Sync + 'static) -> Shared {
        let len = owner.as_ref().len();
        Shared {
            owner: Arc::new(owner),
            range: 0..len,
        }
    }

    /// Bytes `range` of this view (clamped to it), sharing the owner.
    pub fn slice(&self, range: Range<usize>) -> Shared {
        let start = (self.range.start + range.start).min(self.range.end);
        let end = (self.range.start + range.end).clamp(start, self.range.end);
        Shared {
            owner: self.owner.clone(),
            range: start..end,
        }
    }
}

impl Deref for Shared {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.range.clone()]
    }
}

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new(Vec::new())
    }
}

impl From<Vec<u8>> for Shared {
    fn from(v: Vec<u8>) -> Shared {
        Shared::new(v)
    }
}

impl FromIterator<u8> for Shared {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Shared {
        Shared::new(iter.into_iter().collect::<Vec<u8>>())
    }
}

impl PartialEq for Shared {
    fn eq(&self, other: &Shared) -> bool {
        **self == **other
    }
}

impl Eq for Shared {}

impl<const N: usize> PartialEq<[u8; N]> for Shared {
    fn eq(&self, other: &[u8; N]) -> bool {
        **self == other[..]
    }
}

impl PartialEq<Vec<u8>> for Shared {
    fn eq(&self, other: &Vec<u8>) -> bool {
        **self == other[..]
    }
}

/// Only the length: a data set's bytes are too many to print.
impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Shared;

    #[test]
    fn slices_share_and_clamp() {
        let all = Shared::from((0u8..10).collect::<Vec<_>>());
        let mid = all.slice(2..8);
        assert_eq!(&*mid, &[2, 3, 4, 5, 6, 7]);
        assert_eq!(&*mid.slice(4..100), &[6, 7]);
        assert!(mid.slice(9..12).is_empty());
        assert_eq!(mid.slice(1..3), [3u8, 4]);
    }
}
