//! Drawing a grayscale digit in the terminal.

/// Shades from background to full ink.
const SHADES: &[u8] = b" .:-=+*#%@";

/// Renders a `h * w` grayscale image (0 = background) with shade characters,
/// two characters per pixel so the aspect ratio looks right, inside a frame.
/// Returns one line per pixel row, each ending in `\n`.
pub fn render(img: &[u8], h: usize, w: usize) -> String {
    let mut s = String::with_capacity((h + 2) * (2 * w + 3));
    let bar = format!("+{}+\n", "-".repeat(2 * w));
    s.push_str(&bar);
    for y in 0..h {
        s.push('|');
        for x in 0..w {
            let v = img.get(y * w + x).copied().unwrap_or(0);
            let i = usize::from(v) * SHADES.len() / 256;
            let c = char::from(SHADES[i]);
            s.push(c);
            s.push(c);
        }
        s.push_str("|\n");
    }
    s.push_str(&bar);
    s
}

/// Compact rendering with Unicode half blocks (two pixel rows per line,
/// threshold at 50% ink): `▀`, `▄`, `█` or space.
pub fn render_half_blocks(img: &[u8], h: usize, w: usize) -> String {
    let px = |y: usize, x: usize| y < h && img.get(y * w + x).copied().unwrap_or(0) >= 128;
    let mut s = String::new();
    for y in (0..h).step_by(2) {
        for x in 0..w {
            s.push(match (px(y, x), px(y + 1, x)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        s.push('\n');
    }
    s
}

/// Renders a `h * w` RGB image (interleaved) with 24-bit terminal colours: two spaces per pixel
/// on the pixel's colour, inside a frame. One line per pixel row, each ending in `\n`.
pub fn render_rgb(img: &[u8], h: usize, w: usize) -> String {
    let bar = format!("+{}+\n", "-".repeat(2 * w));
    let mut s = bar.clone();
    for y in 0..h {
        s.push('|');
        for x in 0..w {
            let at = 3 * (y * w + x);
            let px = img.get(at..at + 3).unwrap_or(&[0, 0, 0]);
            s.push_str(&format!("\x1b[48;2;{};{};{}m  ", px[0], px[1], px[2]));
        }
        s.push_str("\x1b[0m|\n");
    }
    s.push_str(&bar);
    s
}
