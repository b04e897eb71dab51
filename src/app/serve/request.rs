//! The body of `POST /predict`: the forms it takes, their limits, and the image they decode to.
//! Every refusal is a [`Refusal`]: an HTTP status and a sentence saying what is wrong.
//!
//! - `image/png` or `image/jpeg`: the bytes of an image file, at most [`MAX_SIDE`] pixels a side.
//! - `application/json`: a canvas, `{"width": W, "height": H, "pixels": [...]}`, its pixels row
//!   after row, integers 0 to 255: `W * H` grey values, or `4 * W * H` RGBA values.
//!
//! Ink may be dark on light or light on dark, and RGBA may be transparent: the image then goes
//! through [`crate::data::image::preprocess`], exactly as the files of `wgnn predict` do.

use image::{DynamicImage, GrayImage, RgbaImage};
use serde::Deserialize;

use crate::data::image::decode;

/// The largest body accepted, in bytes (checked against Content-Length before reading, and
/// again while reading).
pub const MAX_BODY: usize = 4 << 20;

/// The largest image accepted, in pixels a side (image files and canvases alike).
pub const MAX_SIDE: u32 = 2048;

/// A request refused: the HTTP status and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// What a body holds, by its Content-Type (parameters such as `charset` are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    ImageFile,
    Canvas,
}

/// The kind of body a Content-Type header announces, or a 415 saying what is taken.
pub fn body_kind(content_type: Option<&str>) -> Result<BodyKind, Refusal> {
    let essence = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match essence.as_str() {
        "image/png" | "image/jpeg" | "image/jpg" => Ok(BodyKind::ImageFile),
        "application/json" => Ok(BodyKind::Canvas),
        "" => Err(Refusal::new(
            415,
            "POST /predict needs a Content-Type: image/png, image/jpeg or application/json",
        )),
        other => Err(Refusal::new(
            415,
            format!("POST /predict takes image/png, image/jpeg or application/json, not `{other}`"),
        )),
    }
}

/// A 413 when a declared body length is over the limit.
pub fn check_length(declared: Option<usize>) -> Result<(), Refusal> {
    match declared {
        Some(n) if n > MAX_BODY => Err(too_large(Some(n))),
        _ => Ok(()),
    }
}

/// The 413 for a body of `n` bytes (None: it was cut off at the limit while reading).
pub fn too_large(n: Option<usize>) -> Refusal {
    let size = n.map_or("over the limit".to_string(), |n| format!("{n} bytes"));
    Refusal::new(
        413,
        format!("the body is {size}; POST /predict takes at most {MAX_BODY} bytes (4 MiB)"),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Canvas {
    width: u64,
    height: u64,
    pixels: Vec<i64>,
}

/// The image a body of `kind` holds.
pub fn image_from_body(kind: BodyKind, body: &[u8]) -> Result<DynamicImage, Refusal> {
    match kind {
        BodyKind::ImageFile => decode(body, MAX_SIDE).map_err(|m| {
            if m.contains("larger than") {
                Refusal::new(413, m)
            } else {
                Refusal::new(400, format!("the body is not an image wgnn can use: {m}"))
            }
        }),
        BodyKind::Canvas => canvas(body),
    }
}

fn canvas(body: &[u8]) -> Result<DynamicImage, Refusal> {
    let c: Canvas = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Refusal::new(
                400,
                format!(
                    "the JSON is not a canvas {{\"width\": W, \"height\": H, \"pixels\": [...]}} \
                     of integers: {e}"
                ),
            ),
            _ => Refusal::new(
                400,
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            ),
        }
    })?;
    let side = u64::from(MAX_SIDE);
    if c.width == 0 || c.height == 0 {
        return Err(Refusal::new(
            400,
            format!("the canvas is {}x{}: it has no pixels", c.width, c.height),
        ));
    }
    if c.width > side || c.height > side {
        return Err(Refusal::new(
            413,
            format!(
                "the canvas is {}x{}, larger than {MAX_SIDE}x{MAX_SIDE} pixels",
                c.width, c.height
            ),
        ));
    }
    let (w, h) = (c.width as u32, c.height as u32);
    let area = (c.width * c.height) as usize;
    if let Some((i, v)) = c
        .pixels
        .iter()
        .enumerate()
        .find(|(_, v)| !(0..=255).contains(*v))
    {
        return Err(Refusal::new(
            400,
            format!("pixel value {i} is {v}: values are integers from 0 to 255"),
        ));
    }
    let bytes: Vec<u8> = c.pixels.iter().map(|&v| v as u8).collect();
    let n = bytes.len();
    let image = if n == area {
        GrayImage::from_raw(w, h, bytes).map(DynamicImage::ImageLuma8)
    } else if n == 4 * area {
        RgbaImage::from_raw(w, h, bytes).map(DynamicImage::ImageRgba8)
    } else {
        None
    };
    image.ok_or_else(|| {
        Refusal::new(
            400,
            format!(
                "`pixels` has {n} values; a {w}x{h} canvas needs {area} (grey) or {} (RGBA)",
                4 * area
            ),
        )
    })
}
