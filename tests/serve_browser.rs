//! `wgnn serve`'s page in a real browser: Debian's chromium, headless, driven over the DevTools
//! protocol by `headless_chrome` (which downloads nothing). The test draws a 7 with mouse events
//! along its strokes, waits for the page's prediction, reads it from the DOM, checks the bar chart
//! and the 28x28 view and saves a screenshot (`WGNN_SAVE_SCREENSHOT=1` also copies it to
//! docs/images/serve.png, the one in the README); then it clears the canvas and picks an image
//! file (a 2), and clears it again and draws a 1 with touch events; the page must show each.
//!
//! The browser is `$WGNN_CHROMIUM`, else `/usr/bin/chromium`, else `chromium` on the PATH.
//! Without one the test fails under `CI=true` (`.ci/run` installs it) and is skipped, saying
//! so, elsewhere.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::run::scratch;
use common::serve::{digit_png, test_set, trained_checkpoint, Served};
use headless_chrome::protocol::cdp::{Input, Page};
use headless_chrome::{Browser, LaunchOptions, Tab};

const BIN: &str = "serve_browser";

/// The browser, or None (after saying why) when a local run may skip; panics under CI.
fn chromium() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("WGNN_CHROMIUM") {
        Some(p) => vec![p.into()],
        None => {
            let mut c = vec![PathBuf::from("/usr/bin/chromium")];
            if let Some(path) = std::env::var_os("PATH") {
                c.extend(std::env::split_paths(&path).map(|d| d.join("chromium")));
            }
            c
        }
    };
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Some(p.clone());
    }
    let why = format!(
        "no chromium (set WGNN_CHROMIUM, or `apt-get install chromium`); tried {}",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{why}");
    }
    eprintln!("SKIPPED the browser test of wgnn serve: {why}");
    None
}

fn js(tab: &Tab, expr: &str) -> serde_json::Value {
    tab.evaluate(expr, false)
        .unwrap_or_else(|e| panic!("evaluating `{expr}`: {e}"))
        .value
        .unwrap_or(serde_json::Value::Null)
}

fn mouse(tab: &Tab, kind: Input::DispatchMouseEventTypeOption, x: f64, y: f64) {
    let pressed = !matches!(kind, Input::DispatchMouseEventTypeOption::MouseReleased);
    tab.call_method(Input::DispatchMouseEvent {
        Type: kind,
        x,
        y,
        modifiers: None,
        timestamp: None,
        button: Some(Input::MouseButton::Left),
        buttons: Some(if pressed { 1 } else { 0 }),
        click_count: Some(1),
        force: None,
        tangential_pressure: None,
        tilt_x: None,
        tilt_y: None,
        twist: None,
        delta_x: None,
        delta_y: None,
        pointer_Type: None,
    })
    .expect("the browser takes the mouse event");
}

/// How a stroke is drawn: the mouse, or one finger.
#[derive(Clone, Copy)]
enum Pointer {
    Mouse,
    Touch,
}

fn touch(tab: &Tab, kind: Input::DispatchTouchEventTypeOption, at: Option<(f64, f64)>) {
    let points = at
        .map(|(x, y)| Input::TouchPoint {
            x,
            y,
            radius_x: None,
            radius_y: None,
            rotation_angle: None,
            force: None,
            tangential_pressure: None,
            tilt_x: None,
            tilt_y: None,
            twist: None,
            id: Some(1.0),
        })
        .into_iter()
        .collect();
    tab.call_method(Input::DispatchTouchEvent {
        Type: kind,
        touch_points: points,
        modifiers: None,
        timestamp: None,
    })
    .expect("the browser takes the touch event");
}

/// One stroke through `points` (canvas pixels), pressed at the first and released at the last,
/// with a move every 4 pixels in between.
fn stroke(tab: &Tab, pointer: Pointer, origin: (f64, f64), points: &[(f64, f64)]) {
    use Input::DispatchMouseEventTypeOption::*;
    use Input::DispatchTouchEventTypeOption::*;
    let at = |(x, y): (f64, f64)| (origin.0 + x, origin.1 + y);
    let mut path = vec![at(points[0])];
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let steps = (((b.0 - a.0).hypot(b.1 - a.1)) / 4.0).ceil().max(1.0) as usize;
        for k in 1..=steps {
            let t = k as f64 / steps as f64;
            path.push(at((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))));
        }
    }
    let (first, last) = (path[0], path[path.len() - 1]);
    match pointer {
        Pointer::Mouse => {
            mouse(tab, MouseMoved, first.0, first.1);
            mouse(tab, MousePressed, first.0, first.1);
            for &(x, y) in &path[1..] {
                mouse(tab, MouseMoved, x, y);
            }
            mouse(tab, MouseReleased, last.0, last.1);
        }
        Pointer::Touch => {
            touch(tab, TouchStart, Some(first));
            for &p in &path[1..] {
                touch(tab, TouchMove, Some(p));
            }
            touch(tab, TouchEnd, None);
        }
    }
}

/// Waits until the page has answered for everything drawn; the predicted digit.
fn settled_prediction(tab: &Tab) -> String {
    let start = Instant::now();
    loop {
        let state = js(
            tab,
            "document.getElementById('prediction').dataset.state + ' ' + \
             document.getElementById('prediction').textContent",
        );
        let s = state.as_str().unwrap_or("").to_string();
        if let Some(digit) = s.strip_prefix("done ") {
            return digit.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the page gave no prediction within 60 s (state `{s}`, status `{}`)",
            js(tab, "document.getElementById('status').textContent")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn drawing_a_seven_in_chromium_predicts_seven() {
    let Some(browser_path) = chromium() else {
        return;
    };
    let checkpoint = trained_checkpoint(BIN);
    let server = Served::start(&checkpoint, &[]);
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(browser_path))
            .headless(true)
            .sandbox(false)
            .enable_gpu(false)
            .user_data_dir(Some(profile.path().to_path_buf()))
            .window_size(Some((700, 780)))
            .args(vec![OsStr::new("--disable-gpu")])
            .idle_browser_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .expect("chromium starts");
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&server.url())
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    tab.wait_for_element("#draw").unwrap();

    // The header names the model and the backend (from GET /model).
    let start = Instant::now();
    let header = loop {
        let h = js(&tab, "document.getElementById('model').textContent");
        let h = h.as_str().unwrap_or("").to_string();
        if h.contains("convnet") || start.elapsed() > Duration::from_secs(10) {
            break h;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        header.contains("convnet") && header.contains("CPU backend"),
        "{header}"
    );

    // Objects come back by reference: the position as JSON text.
    let rect = js(
        &tab,
        "(() => { const r = document.getElementById('draw').getBoundingClientRect(); \
         return JSON.stringify([r.left, r.top, r.width]); })()",
    );
    let r: Vec<f64> = serde_json::from_str(rect.as_str().expect("the canvas' position")).unwrap();
    assert_eq!(r[2], 280.0, "the canvas is drawn at its own size");
    let origin = (r[0], r[1]);

    // A 7: the bar, then the stem down and to the left.
    stroke(
        &tab,
        Pointer::Mouse,
        origin,
        &[(75.0, 70.0), (205.0, 66.0), (130.0, 225.0)],
    );
    let digit = settled_prediction(&tab);
    let probs = js(
        &tab,
        "Array.from(document.querySelectorAll('#bars .pct')).map(e => e.textContent).join(' ')",
    );
    let top = js(&tab, "document.querySelector('#bars .bar.top').id");
    let seen = js(
        &tab,
        "(() => { const d = document.getElementById('model-input').getContext('2d')\
         .getImageData(0, 0, 28, 28).data; let s = 0; for (let i = 0; i < d.length; i += 4) \
         s += d[i]; return s; })()",
    );
    eprintln!("page: predicted {digit}; bars {probs}; model input ink {seen}");
    assert_eq!(
        digit, "7",
        "the page predicted {digit} for a drawn 7 ({probs})"
    );
    assert_eq!(top, "bar-7", "the highest bar is the 7's");
    assert!(
        seen.as_f64().unwrap_or(0.0) > 0.0,
        "the 28x28 view shows the model input"
    );

    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let dir = scratch(BIN, "screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("serve.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    if std::env::var_os("WGNN_SAVE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images/serve.png");
        std::fs::write(&docs, &png).unwrap();
        eprintln!("screenshot copied to {}", docs.display());
    }

    // Clear empties the canvas and the prediction.
    tab.find_element("#clear").unwrap().click().unwrap();
    let after = js(&tab, "document.getElementById('prediction').textContent");
    assert_eq!(after.as_str(), Some("–"));

    // A picked file goes to the server as it is: test image 1, a 2, as a PNG.
    let (png, label) = digit_png(&test_set(), 1, 4);
    let file = dir.join("two.png");
    std::fs::write(&file, png).unwrap();
    tab.find_element("#file")
        .unwrap()
        .set_input_files(&[file.to_str().unwrap()])
        .unwrap();
    let digit = settled_prediction(&tab);
    eprintln!("page: predicted {digit} for the picked file of a {label}");
    assert_eq!(
        digit,
        label.to_string(),
        "the page's answer for a picked file"
    );

    // A finger: Clear, then a 1 drawn with touch events.
    tab.find_element("#clear").unwrap().click().unwrap();
    stroke(
        &tab,
        Pointer::Touch,
        origin,
        &[(150.0, 45.0), (135.0, 235.0)],
    );
    let digit = settled_prediction(&tab);
    eprintln!("page: predicted {digit} for a 1 drawn by touch");
    assert_eq!(digit, "1", "the page's answer for a 1 drawn by touch");
}
