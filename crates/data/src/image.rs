//! Loading a user's picture (PNG/JPEG) as a model's input: for a model of digits an MNIST-like
//! input (white ink on black, the digit scaled into a 20x20 box and centred by centre of mass in
//! a 28x28 frame, generalised to any size: the box is 20/28 of the frame); for any other model
//! the picture resized.

use std::path::Path;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageReader};

use wgnn_engine::error::{Error, Result};

/// How a user's picture becomes a model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picture {
    /// An MNIST-style digit or character: grayscale, white ink on black, the ink scaled into the
    /// frame's middle and centred by its centre of mass, as MNIST's and KMNIST's images are.
    Digit,
    /// The picture resized (bilinear) to the input, in the model's channels: nothing else, as
    /// for photos, clothes or any colour set.
    Resized,
}

impl Picture {
    /// The preparation for a model of `channels` trained on `dataset` with `class_names`:
    /// digits for a grayscale model of MNIST or KMNIST, of unnamed data (runs that kept no
    /// names, IDX folders) or of classes named 0 to 9; a plain resize for anything else.
    pub fn for_data(dataset: Option<&str>, class_names: &[String], channels: usize) -> Picture {
        let digit_names = class_names
            .iter()
            .enumerate()
            .all(|(i, n)| *n == i.to_string());
        let digits = match dataset {
            Some(name) => matches!(name, "mnist" | "kmnist"),
            None => class_names.is_empty() || (class_names.len() == 10 && digit_names),
        };
        match channels == 1 && digits {
            true => Picture::Digit,
            false => Picture::Resized,
        }
    }

    /// The model's `[height, width, channels]` input from a decoded picture.
    pub fn input(
        self,
        img: &DynamicImage,
        [height, width, channels]: [usize; 3],
    ) -> std::result::Result<Vec<u8>, String> {
        match (self, channels) {
            (Picture::Digit, 1) => preprocess(img, height, width),
            (_, 1) => Ok(resized(img, height, width).to_luma8().into_raw()),
            _ => Ok(resized(img, height, width).to_rgb8().into_raw()),
        }
    }
}

fn resized(img: &DynamicImage, height: usize, width: usize) -> DynamicImage {
    img.resize_exact(width as u32, height as u32, FilterType::Triangle)
}

/// A model's input from the picture at `path`, prepared as `picture` says.
pub fn load_input(path: &Path, shape: [usize; 3], picture: Picture) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = decode(&bytes, MAX_SIDE).map_err(|msg| Error::file(path, msg))?;
    picture
        .input(&img, shape)
        .map_err(|msg| Error::file(path, msg))
}

/// Pixels whose (normalised) value exceeds this are ink for the bounding box.
const INK_THRESHOLD: u8 = 40;

/// Decodes `path` (PNG or JPEG, any size), converts it to an MNIST-style
/// `height * width` grayscale image (row-major, 0 = background).
pub fn load_digit(path: &Path, height: usize, width: usize) -> Result<Vec<u8>> {
    load_input(path, [height, width, 1], Picture::Digit)
}

/// The widest or tallest image a file may declare: a small file can declare a huge image, so this
/// is checked from the header, before the pixels are decoded.
pub const MAX_SIDE: u32 = 16_384;

/// The most memory one image's decoding may take.
pub const MAX_DECODED_BYTES: u64 = 512 << 20;

/// A PNG, JPEG or BMP file's pixels (the format told by the bytes). An image wider or taller than
/// `max_side`, or one whose decoding would take more than `MAX_DECODED_BYTES`, is refused before
/// its pixels are decoded.
pub fn decode(bytes: &[u8], max_side: u32) -> std::result::Result<DynamicImage, String> {
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read image: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => match l.kind() {
            image::error::LimitErrorKind::DimensionError => {
                format!("the image is larger than {max_side}x{max_side} pixels")
            }
            _ => format!(
                "the image would take more than {} MiB to decode",
                MAX_DECODED_BYTES >> 20
            ),
        },
        image::ImageError::Unsupported(_) => "not a PNG, JPEG or BMP image".to_string(),
        e => format!(
            "not a readable PNG, JPEG or BMP image: {}",
            decoder_words(&e)
        ),
    })
}

/// A decoder's message without the Debug text some decoders append (`while decoding
/// ChunkType { type: IHDR, .. } chunk`).
fn decoder_words(e: &image::ImageError) -> String {
    let msg = e.to_string();
    let cut = [" while decoding", " {"]
        .iter()
        .filter_map(|p| msg.find(p))
        .min()
        .unwrap_or(msg.len());
    msg[..cut].trim_end_matches([':', ' ']).to_string()
}

/// Grayscale with transparent areas filled by the background colour implied
/// by the opaque pixels.
fn to_gray(img: &DynamicImage) -> GrayImage {
    let la = img.to_luma_alpha8();
    let (w, h) = la.dimensions();
    let has_alpha = la.pixels().any(|p| p[1] < 255);
    if !has_alpha {
        return img.to_luma8();
    }
    // Ink is usually the opaque part: fill transparency with the contrasting colour.
    let (mut sum, mut cnt) = (0u64, 0u64);
    for p in la.pixels() {
        if p[1] > 127 {
            sum += u64::from(p[0]);
            cnt += 1;
        }
    }
    let bg: f32 = if cnt > 0 && sum / cnt < 128 {
        255.0
    } else {
        0.0
    };
    GrayImage::from_fn(w, h, |x, y| {
        let p = la.get_pixel(x, y);
        let a = f32::from(p[1]) / 255.0;
        let v = f32::from(p[0]) * a + bg * (1.0 - a);
        image::Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

/// Mean of the border pixels.
fn border_mean(g: &GrayImage) -> f32 {
    let (w, h) = g.dimensions();
    let (mut sum, mut cnt) = (0u64, 0u64);
    for y in 0..h {
        for x in 0..w {
            if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                sum += u64::from(g.get_pixel(x, y)[0]);
                cnt += 1;
            }
        }
    }
    if cnt == 0 {
        0.0
    } else {
        sum as f32 / cnt as f32
    }
}

/// White ink on black at full contrast: dark-on-light images are inverted, the background level
/// (the border's mean) removed, the rest stretched to 0..255, and faint specks cleared.
fn normalise_ink(g: &mut GrayImage) -> std::result::Result<(), String> {
    if border_mean(g) > 127.0 {
        image::imageops::invert(g);
    }
    let bg = border_mean(g);
    let max = g.pixels().map(|p| p[0]).max().unwrap_or(0) as f32;
    if max - bg < 16.0 {
        return Err("no digit found: the image is blank or has too little contrast".into());
    }
    let scale = 255.0 / (max - bg);
    for p in g.pixels_mut() {
        let v = ((f32::from(p[0]) - bg) * scale).round().clamp(0.0, 255.0) as u8;
        p[0] = if v < INK_THRESHOLD / 2 { 0 } else { v };
    }
    Ok(())
}

/// The ink's bounding box `(x, y, width, height)`.
fn ink_box(g: &GrayImage) -> std::result::Result<(u32, u32, u32, u32), String> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    for (x, y, p) in g.enumerate_pixels() {
        if p[0] > INK_THRESHOLD {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 || y0 > y1 {
        return Err("no digit found: the image has no ink".into());
    }
    Ok((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// The digit's centre of mass (pixel centres at i + 0.5); the middle of the image when blank.
fn centre_of_mass(g: &GrayImage) -> (f64, f64) {
    let (mut m, mut mx, mut my) = (0f64, 0f64, 0f64);
    for (x, y, p) in g.enumerate_pixels() {
        let v = f64::from(p[0]);
        m += v;
        mx += v * (f64::from(x) + 0.5);
        my += v * (f64::from(y) + 0.5);
    }
    if m > 0.0 {
        (mx / m, my / m)
    } else {
        (f64::from(g.width()) / 2.0, f64::from(g.height()) / 2.0)
    }
}

/// MNIST-style preprocessing of a decoded image; errors are plain messages
/// (the caller adds the file name).
pub fn preprocess(
    img: &DynamicImage,
    height: usize,
    width: usize,
) -> std::result::Result<Vec<u8>, String> {
    if height < 2 || width < 2 || height > 4096 || width > 4096 {
        return Err(format!("target size {height}x{width} is not supported"));
    }
    let mut g = to_gray(img);
    let (w, h) = g.dimensions();
    if w == 0 || h == 0 {
        return Err("image is empty".into());
    }
    normalise_ink(&mut g)?;
    let (x0, y0, cw, ch) = ink_box(&g)?;
    let crop = image::imageops::crop_imm(&g, x0, y0, cw, ch).to_image();
    // Scale so the digit fits the box (20/28 of the frame), keeping aspect.
    let box_h = ((height as f64) * 20.0 / 28.0).round().max(1.0);
    let box_w = ((width as f64) * 20.0 / 28.0).round().max(1.0);
    let s = (box_h / f64::from(ch)).min(box_w / f64::from(cw));
    let nw = ((f64::from(cw) * s).round() as u32).clamp(1, width as u32);
    let nh = ((f64::from(ch) * s).round() as u32).clamp(1, height as u32);
    let small = image::imageops::resize(&crop, nw, nh, FilterType::Triangle);
    // Place the digit with its centre of mass at the frame's centre, as MNIST's are.
    let (cx, cy) = centre_of_mass(&small);
    let off_x = (width as f64 / 2.0 - cx).round() as i64;
    let off_y = (height as f64 / 2.0 - cy).round() as i64;
    let mut out = vec![0u8; height * width];
    for (x, y, p) in small.enumerate_pixels() {
        let tx = i64::from(x) + off_x;
        let ty = i64::from(y) + off_y;
        if (0..width as i64).contains(&tx) && (0..height as i64).contains(&ty) {
            out[ty as usize * width + tx as usize] = p[0];
        }
    }
    Ok(out)
}
