//! `wgnn serve` end to end over plain HTTP: every kind of bad request gets a 4xx with a message
//! saying what is wrong and the server carries on; good requests (PNG, JPEG, canvas pixels) give
//! the same answer as `wgnn predict`, also from 8 threads at once; a busy port is a clear error;
//! Ctrl-C stops it. And, below the server, the bytes and the file of one image make one model
//! input.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::run::{command, ok, scratch, text};
use common::serve::{digit_png, test_set, trained_checkpoint, Served};
use serde_json::Value;
use wgnn::app::serve::request::{image_from_body, BodyKind, MAX_BODY};
use wgnn::data::image::{decode, load_digit, preprocess, Picture};

const BIN: &str = "serve";

fn checkpoint() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| trained_checkpoint(BIN))
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A 4xx whose JSON `error` holds `needle`.
fn refused(answer: (u16, String), status: u16, needle: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "expected {status}, got {got}: {body}");
    let msg = json(&body)["error"].as_str().unwrap_or("").to_string();
    assert!(
        msg.contains(needle),
        "expected `{needle}` in the message: {msg}"
    );
    eprintln!("{status}: {msg}");
}

/// The class and probabilities of a 200 answer, checked for shape.
fn answer(a: &(u16, String)) -> (u64, Vec<f64>, Vec<u8>) {
    assert_eq!(a.0, 200, "{}", a.1);
    let v = json(&a.1);
    let class = v["class"].as_u64().expect("a class");
    let probs: Vec<f64> = v["probabilities"]
        .as_array()
        .expect("probabilities")
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(probs.len(), 10);
    let sum: f64 = probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
    let argmax = (0..10)
        .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .unwrap();
    assert_eq!(argmax as u64, class);
    let input = &v["input"];
    assert_eq!(
        (input["width"].as_u64(), input["height"].as_u64()),
        (Some(28), Some(28))
    );
    let pixels: Vec<u8> = input["pixels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(pixels.len(), 784);
    (class, probs, pixels)
}

fn canvas_json(w: usize, h: usize, pixels: &[u8]) -> Vec<u8> {
    serde_json::json!({ "width": w, "height": h, "pixels": pixels })
        .to_string()
        .into_bytes()
}

#[test]
fn bad_requests_get_a_4xx_and_the_server_keeps_serving() {
    let s = Served::start(checkpoint(), &[]);
    assert!(
        s.banner.contains("listening on http://127.0.0.1:"),
        "{}",
        s.banner
    );
    assert!(
        s.banner.contains("convnet") && s.banner.contains("CPU backend"),
        "{}",
        s.banner
    );
    let set = test_set();
    let (png, _) = digit_png(&set, 0, 1);

    // Declared too large: refused from Content-Length, before the body is read.
    let big = vec![b'x'; MAX_BODY + 1];
    refused(
        s.post("/predict", "image/png", &big),
        413,
        "at most 4194304 bytes",
    );
    // Declared far beyond memory and never sent: tiny_http 0.12.0 aborted on this after the 413
    // (vendor/tiny_http/PATCHED.md).
    refused(
        s.request(
            "POST",
            "/predict",
            &[
                ("Content-Type", "image/png"),
                ("Content-Length", "100000000000"),
            ],
            b"",
        ),
        413,
        "the body is 100000000000 bytes",
    );
    // Too large without a declared length (chunked): cut off while reading.
    refused(
        s.request(
            "POST",
            "/predict",
            &[
                ("Content-Type", "image/png"),
                ("Transfer-Encoding", "chunked"),
            ],
            &big,
        ),
        413,
        "at most 4194304 bytes",
    );
    refused(
        s.post("/predict", "text/plain", b"7"),
        415,
        "not `text/plain`",
    );
    refused(
        s.request("POST", "/predict", &[], &png),
        415,
        "needs a Content-Type",
    );
    refused(
        s.post(
            "/predict",
            "application/json",
            b"{\"width\": 28, \"height\": ",
        ),
        400,
        "not valid JSON",
    );
    refused(
        s.post(
            "/predict",
            "application/json",
            b"{\"width\": 28, \"height\": 28}",
        ),
        400,
        "missing field `pixels`",
    );
    refused(
        s.post(
            "/predict",
            "application/json",
            &canvas_json(28, 28, &[0; 700]),
        ),
        400,
        "`pixels` has 700 values; a 28x28 canvas needs 784 (grey) or 3136 (RGBA)",
    );
    refused(
        s.post(
            "/predict",
            "application/json",
            br#"{"width": 2, "height": 1, "pixels": [0, 300]}"#,
        ),
        400,
        "pixel value 1 is 300",
    );
    refused(
        s.post(
            "/predict",
            "application/json",
            br#"{"width": 5000, "height": 1, "pixels": []}"#,
        ),
        413,
        "larger than 2048x2048",
    );
    refused(
        s.post("/predict", "image/png", b"this is not a PNG file"),
        400,
        "not an image",
    );
    // A real PNG header claiming a huge image: refused before its pixels are decoded.
    let huge = image::GrayImage::new(3000, 4);
    let mut huge_png = Vec::new();
    huge.write_to(
        &mut std::io::Cursor::new(&mut huge_png),
        image::ImageFormat::Png,
    )
    .unwrap();
    refused(
        s.post("/predict", "image/png", &huge_png),
        413,
        "larger than 2048x2048",
    );
    // A blank canvas has no digit.
    refused(
        s.post(
            "/predict",
            "application/json",
            &canvas_json(28, 28, &[255; 784]),
        ),
        422,
        "no digit found",
    );
    refused(
        s.request("GET", "/nowhere", &[], b""),
        404,
        "nothing at /nowhere",
    );
    refused(
        s.request("GET", "/predict", &[], b""),
        405,
        "/predict takes POST, not GET",
    );
    refused(
        s.request("DELETE", "/", &[], b""),
        405,
        "/ takes GET, HEAD, not DELETE",
    );

    // Still serving: the page, the model's description, a good prediction.
    let (status, page) = s.request("GET", "/", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("<canvas id=\"draw\""));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page fetches nothing"
    );
    let (status, model) = s.request("GET", "/model", &[], b"");
    assert_eq!(status, 200);
    let m = json(&model);
    assert_eq!(m["model"], "convnet");
    assert!(
        m["backend"].as_str().unwrap().contains("CPU backend"),
        "{m}"
    );
    let (class, _, _) = answer(&s.post("/predict", "image/png", &png));
    assert_eq!(class, 7, "test image 0 is a 7");
}

#[test]
fn predictions_match_wgnn_predict_for_png_jpeg_and_pixels() {
    let s = Served::start(checkpoint(), &[]);
    let set = test_set();
    let dir = scratch(BIN, "pngs");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..4 {
        let (png, label) = digit_png(&set, i, 3);
        let path = dir.join(format!("digit{i}.png"));
        std::fs::write(&path, &png).unwrap();
        let (class, probs, input) = answer(&s.post("/predict", "image/png", &png));
        assert_eq!(class, u64::from(label), "test image {i}");
        // `wgnn predict` on the same file: the same class and probabilities (to its 3 decimals).
        let out = ok(&[
            "predict",
            "--checkpoint",
            checkpoint().to_str().unwrap(),
            "--backend",
            "cpu",
            path.to_str().unwrap(),
        ]);
        assert!(out.contains(&format!("predicted {class} (")), "{out}");
        let row: Vec<f64> = out
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .map(|kv| kv.split_once(':').unwrap().1.parse().unwrap())
            .collect();
        for (a, b) in probs.iter().zip(&row) {
            assert!(
                (a - b).abs() <= 0.0005 + 1e-6,
                "{probs:?} vs predict's {row:?}"
            );
        }
        // The same picture as canvas pixels: grey, and RGBA; the same model input.
        let grey: Vec<u8> = image::load_from_memory(&png).unwrap().to_luma8().into_raw();
        let (c2, _, input2) =
            answer(&s.post("/predict", "application/json", &canvas_json(84, 84, &grey)));
        let rgba: Vec<u8> = grey.iter().flat_map(|&g| [g, g, g, 255]).collect();
        let (c3, _, input3) =
            answer(&s.post("/predict", "application/json", &canvas_json(84, 84, &rgba)));
        assert_eq!((c2, c3), (class, class));
        // And as a JPEG file (lossy: the class, not the exact input, must be the same).
        let mut jpeg = Vec::new();
        image::GrayImage::from_raw(84, 84, grey.clone())
            .unwrap()
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let (c4, _, _) = answer(&s.post("/predict", "image/jpeg", &jpeg));
        assert_eq!(c4, class, "test image {i} as a JPEG");
        assert_eq!(input2, input);
        assert_eq!(input3, input);
    }
}

#[test]
fn concurrent_requests_are_all_answered_correctly() {
    let s = Served::start(checkpoint(), &[]);
    let set = test_set();
    let digits: Vec<(Vec<u8>, u64)> = (0..8)
        .map(|i| {
            let (png, _) = digit_png(&set, i, 2);
            let (class, _, _) = answer(&s.post("/predict", "image/png", &png));
            (png, class)
        })
        .collect();
    let t = std::time::Instant::now();
    std::thread::scope(|scope| {
        for (png, want) in &digits {
            let s = &s;
            scope.spawn(move || {
                for _ in 0..5 {
                    let (class, _, _) = answer(&s.post("/predict", "image/png", png));
                    assert_eq!(class, *want);
                }
            });
        }
    });
    eprintln!(
        "8 threads x 5 requests answered in {:.2} s",
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn a_busy_port_is_a_clear_error_and_ctrl_c_stops_the_server() {
    let first = Served::start(checkpoint(), &[]);
    let port = first.addr.rsplit(':').next().unwrap().to_string();
    let o = command(&[
        "serve",
        "--checkpoint",
        checkpoint().to_str().unwrap(),
        "--backend",
        "cpu",
        "--port",
        &port,
    ])
    .output()
    .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");

    let mut s = first;
    let pid = s.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "wgnn serve still runs 10 s after SIGINT"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a clean stop");
}

/// Digits are centred for models of digits; any other picture is only resized, in the model's
/// channels.
#[test]
fn digits_are_centred_and_other_pictures_only_resized() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let digits: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let clothes = names(&["T-shirt/top", "Trouser"]);
    for (dataset, classes, channels, want) in [
        (Some("mnist"), &digits, 1, Picture::Digit),
        (Some("kmnist"), &names(&["o", "ki"]), 1, Picture::Digit),
        (None, &Vec::new(), 1, Picture::Digit),
        (None, &digits, 1, Picture::Digit),
        (Some("fashion-mnist"), &clothes, 1, Picture::Resized),
        (None, &names(&["cat", "dog"]), 1, Picture::Resized),
        (None, &digits[..9].to_vec(), 1, Picture::Resized),
        (Some("mnist"), &digits, 3, Picture::Resized),
    ] {
        let got = Picture::for_data(dataset, classes, channels);
        assert_eq!(got, want, "{dataset:?} {classes:?} C={channels}");
    }
    // A uniform picture stays uniform when resized; as a digit it has no ink.
    let grey =
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(40, 30, image::Luma([90])));
    assert_eq!(
        Picture::Resized.input(&grey, [28, 28, 1]).unwrap(),
        vec![90u8; 784]
    );
    let e = Picture::Digit.input(&grey, [28, 28, 1]).unwrap_err();
    assert!(e.contains("no digit found"), "{e}");
    let rgb =
        image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(9, 7, image::Rgb([10, 20, 30])));
    assert_eq!(
        Picture::Resized.input(&rgb, [4, 5, 3]).unwrap(),
        [10u8, 20, 30].repeat(20)
    );
    // A grayscale model of a colour picture gets its luma (Rec. 601, as the image crate weighs it).
    let luma = rgb.to_luma8()[(0, 0)][0];
    assert_eq!(
        Picture::Resized.input(&rgb, [4, 5, 1]).unwrap(),
        vec![luma; 20]
    );
}

/// The one preprocessing, reached four ways: a file (`wgnn predict`), its bytes, and the same
/// picture as a PNG body or as canvas pixels (`wgnn serve`).
#[test]
fn the_bytes_and_the_file_of_an_image_make_the_same_model_input() {
    let set = test_set();
    let dir = scratch(BIN, "same-input");
    std::fs::create_dir_all(&dir).unwrap();
    for i in [0, 1, 5] {
        let (png, _) = digit_png(&set, i, 5);
        let path = dir.join("digit.png");
        std::fs::write(&path, &png).unwrap();
        let from_file = load_digit(&path, 28, 28).unwrap();
        let decoded = decode(&png, wgnn::data::image::MAX_SIDE).unwrap();
        assert_eq!(
            Picture::Digit.input(&decoded, [28, 28, 1]).unwrap(),
            from_file
        );
        let body = image_from_body(BodyKind::ImageFile, &png).unwrap();
        assert_eq!(preprocess(&body, 28, 28).unwrap(), from_file);
        let grey = image::load_from_memory(&png).unwrap().to_luma8().into_raw();
        let canvas = image_from_body(BodyKind::Canvas, &canvas_json(140, 140, &grey)).unwrap();
        assert_eq!(preprocess(&canvas, 28, 28).unwrap(), from_file);
        // White ink on black, as MNIST and the model have it.
        assert_eq!(from_file[0], 0);
        assert!(from_file.iter().any(|&v| v > 200));
    }
}
