//! A small include resolver for WGSL, which has no includes of its own. A shader names its
//! preludes with directive lines (`#include "prelude/step.wgsl"`, paths relative to `shaders/`);
//! each directive is replaced by that file's text, every file at most once, so one assembled
//! source reaches naga and wgpu. A line map sends each line of the assembled source back to its
//! file and line, so an error names `shaders/conv2d_tiled.wgsl:123:5`, not a line offset by preludes.

use std::collections::HashSet;

use crate::error::{Error, Result};

/// The directive that starts an include line.
pub const DIRECTIVE: &str = "#include";

/// Where every shader path is relative to, as errors print it.
pub const ROOT: &str = "shaders/";

/// A shader with its includes expanded, and where each of its lines came from.
#[derive(Clone, Debug)]
pub struct Assembled {
    pub source: String,
    /// Files in the order they were first read (the root first).
    files: Vec<String>,
    /// For each line of `source`: (index into `files`, 1-based line in that file).
    lines: Vec<(usize, u32)>,
}

impl Assembled {
    /// `shaders/<file>:<line>` of 1-based line `line` of the assembled source (None past its end).
    pub fn origin(&self, line: u32) -> Option<(&str, u32)> {
        let &(file, l) = self.lines.get((line as usize).checked_sub(1)?)?;
        Some((&self.files[file], l))
    }

    /// `shaders/conv2d_tiled.wgsl:123:5: message` for an error at `loc` of the assembled source, or
    /// `shaders/conv2d_tiled.wgsl: message` (the root file) when naga gave no location.
    pub fn error_at(&self, loc: Option<naga::SourceLocation>, message: &str) -> String {
        match loc.and_then(|l| Some((self.origin(l.line_number)?, l.line_position))) {
            Some(((file, line), col)) => format!("{ROOT}{file}:{line}:{col}: {message}"),
            None => format!("{ROOT}{}: {message}", self.files[0]),
        }
    }

    /// A naga parse error of this source, as `file:line:col: message`.
    pub fn parse_error(&self, e: &naga::front::wgsl::ParseError) -> String {
        self.error_at(e.location(&self.source), e.message())
    }

    /// A naga validation error of this source: its message and every cause, at its first span.
    pub fn validation_error<E: std::error::Error>(&self, e: &naga::WithSpan<E>) -> String {
        let mut message = e.as_inner().to_string();
        let mut cause = e.as_inner().source();
        while let Some(c) = cause {
            message = format!("{message}: {c}");
            cause = c.source();
        }
        self.error_at(e.location(&self.source), &message)
    }
}

/// Expands the includes of `root`, reading files through `read` (a path relative to `shaders/`
/// to its text). An include of a file already included is dropped, so shared preludes can be
/// named by every file that needs them; a file that includes itself, directly or not, is an error.
pub fn assemble<'a>(root: &str, read: &dyn Fn(&str) -> Option<&'a str>) -> Result<Assembled> {
    let mut out = Assembled {
        source: String::new(),
        files: Vec::new(),
        lines: Vec::new(),
    };
    let mut done = HashSet::new();
    expand(root, read, &mut Vec::new(), &mut done, &mut out)?;
    Ok(out)
}

fn expand<'a>(
    path: &str,
    read: &dyn Fn(&str) -> Option<&'a str>,
    stack: &mut Vec<String>,
    done: &mut HashSet<String>,
    out: &mut Assembled,
) -> Result<()> {
    if let Some(start) = stack.iter().position(|p| p == path) {
        let chain: Vec<String> = stack[start..]
            .iter()
            .chain([&path.to_string()])
            .map(|p| format!("{ROOT}{p}"))
            .collect();
        return Err(Error::Gpu(format!(
            "shader includes form a cycle: {}",
            chain.join(" includes ")
        )));
    }
    if !done.insert(path.to_string()) {
        return Ok(());
    }
    let text = read(path).ok_or_else(|| match stack.last() {
        Some(parent) => Error::Gpu(format!(
            "{ROOT}{parent} includes {ROOT}{path}, which is not compiled in (see src/runtime/shaders.rs)"
        )),
        None => Error::Gpu(format!("no shader file {ROOT}{path} is compiled in")),
    })?;
    let file = out.files.len();
    out.files.push(path.to_string());
    stack.push(path.to_string());
    for (n, line) in text.lines().enumerate() {
        let n = n as u32 + 1;
        match line.trim().strip_prefix(DIRECTIVE) {
            Some(rest) => {
                let target = rest
                    .trim()
                    .strip_prefix('"')
                    .and_then(|r| r.strip_suffix('"'));
                let target = target.filter(|t| !t.is_empty()).ok_or_else(|| {
                    Error::Gpu(format!(
                        "{ROOT}{path}:{n}:1: an include names its file in quotes: {DIRECTIVE} \"prelude/step.wgsl\""
                    ))
                })?;
                expand(target, read, stack, done, out)?;
            }
            None => {
                out.source.push_str(line);
                out.source.push('\n');
                out.lines.push((file, n));
            }
        }
    }
    stack.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str) -> Option<&'static str> {
        match name {
            "main.wgsl" => {
                Some("#include \"prelude/a.wgsl\"\n#include \"prelude/b.wgsl\"\nfn main_fn() {}\n")
            }
            "prelude/a.wgsl" => Some("// a\nfn a() {}\n"),
            // b includes a again: dropped, a is already in.
            "prelude/b.wgsl" => Some("#include \"prelude/a.wgsl\"\nfn b() {}\n"),
            "loop1.wgsl" => Some("#include \"loop2.wgsl\"\n"),
            "loop2.wgsl" => Some("\n#include \"loop1.wgsl\"\n"),
            "missing.wgsl" => Some("// x\n#include \"prelude/nope.wgsl\"\n"),
            "bad.wgsl" => Some("#include prelude/a.wgsl\n"),
            _ => None,
        }
    }

    #[test]
    fn expands_each_file_once_and_maps_lines_back() {
        let a = assemble("main.wgsl", &files).unwrap();
        assert_eq!(a.source, "// a\nfn a() {}\nfn b() {}\nfn main_fn() {}\n");
        assert_eq!(a.origin(1), Some(("prelude/a.wgsl", 1)));
        assert_eq!(a.origin(3), Some(("prelude/b.wgsl", 2)));
        assert_eq!(a.origin(4), Some(("main.wgsl", 3)));
        assert_eq!(a.origin(5), None);
    }

    #[test]
    fn a_cycle_is_an_error_naming_the_chain() {
        let e = assemble("loop1.wgsl", &files).unwrap_err().to_string();
        assert!(
            e.contains(
                "cycle: shaders/loop1.wgsl includes shaders/loop2.wgsl includes shaders/loop1.wgsl"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_missing_or_malformed_include_is_an_error_naming_the_file() {
        let e = assemble("missing.wgsl", &files).unwrap_err().to_string();
        assert!(
            e.contains(
                "shaders/missing.wgsl includes shaders/prelude/nope.wgsl, which is not compiled in"
            ),
            "{e}"
        );
        let e = assemble("bad.wgsl", &files).unwrap_err().to_string();
        assert!(
            e.starts_with("shaders/bad.wgsl:1:1: an include names its file in quotes"),
            "{e}"
        );
        let e = assemble("none.wgsl", &files).unwrap_err().to_string();
        assert!(e.contains("no shader file shaders/none.wgsl"), "{e}");
    }
}
