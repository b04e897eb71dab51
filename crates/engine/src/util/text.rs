//! Names of enum values in model files and on the command line.

/// `Display` and a case-insensitive `FromStr` for a unit enum with an `as_str` method; an unknown
/// name is an error that lists the known ones.
macro_rules! display_from_str {
    ($t:ty, $what:literal, [$($v:expr),*]) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = $crate::error::Error;
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                let all = [$($v),*];
                all.iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        let names: Vec<&str> = all.iter().map(|v| v.as_str()).collect();
                        $crate::error::Error::Msg(format!(
                            "unknown {} \"{}\" (expected one of: {})",
                            $what,
                            s,
                            names.join(", ")
                        ))
                    })
            }
        }
    };
}

pub(crate) use display_from_str;

/// A unit enum whose values have names: in model files, run files and on the command line. The
/// command line builds its choices from this (the engine knows no argument parser).
pub trait Named: Copy + Sized + Send + Sync + 'static {
    /// Every value, in the order they are listed to people.
    const ALL: &'static [Self];
    /// The value's name.
    fn name(self) -> &'static str;
    /// Older names that still parse.
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }
}

/// `28x28x1`, as messages give an image shape `[height, width, channels]`.
pub fn shape_hwc([h, w, c]: [usize; 3]) -> String {
    format!("{h}x{w}x{c}")
}
