//! `wgnn serve` from a test: a checkpoint good enough to read drawn digits, the server started on
//! a free port (stopped when dropped), and plain HTTP/1.1 over a `TcpStream`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::run::{command, ok, scratch};

/// Trains `convnet` on the CPU backend for one epoch of 12,000 images at batch 32 (95% test
/// accuracy, 30 to 40 s on 2 cores; enough to read a digit drawn with the mouse), into a scratch
/// folder of test binary `binary`.
pub fn trained_checkpoint(binary: &str) -> PathBuf {
    let dir = scratch(binary, "serve-model");
    let out = ok(&[
        "train",
        "--model",
        "convnet",
        "--epochs",
        "1",
        "--limit",
        "12000",
        "--batch-size",
        "32",
        "--validation-split",
        "0.05",
        "--backend",
        "cpu",
        "--out",
        dir.to_str().unwrap(),
    ]);
    eprintln!(
        "{}",
        out.lines()
            .filter(|l| l.contains("est"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    dir
}

/// A running `wgnn serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// The line it printed on start.
    pub banner: String,
}

impl Served {
    /// Starts `wgnn serve --checkpoint DIR --port 0 ARGS` and waits (up to 2 minutes) for the
    /// line saying where it listens.
    pub fn start(checkpoint: &Path, args: &[&str]) -> Served {
        let mut all = vec![
            "serve",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--port",
            "0",
            "--backend",
            "cpu",
        ];
        all.extend_from_slice(args);
        let mut child = command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("wgnn serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining, so the server never blocks on a full pipe.
            for line in lines.map_while(Result::ok) {
                eprintln!("wgnn serve: {line}");
            }
        });
        let banner = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("wgnn serve printed no listening line within 2 minutes");
            }
        };
        let addr = banner
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no URL in the listening line: {banner}"))
            .to_string();
        Served {
            child,
            addr,
            banner,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// One request on a fresh connection: `(status, body)`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && *v == "chunked");
        let has_length = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        for (k, v) in headers {
            head += &format!("{k}: {v}\r\n");
        }
        if !chunked && !has_length {
            head += &format!("Content-Length: {}\r\n", body.len());
        }
        head += "\r\n";
        let mut s = TcpStream::connect(&self.addr).expect("connects to wgnn serve");
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (a 413) before it has read the body: a write that fails then
        // is expected; the answer is read below either way.
        let _ = if chunked {
            body.chunks(64 << 10)
                .try_for_each(|c| {
                    s.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
                    s.write_all(c)?;
                    s.write_all(b"\r\n")
                })
                .and_then(|()| s.write_all(b"0\r\n\r\n"))
        } else {
            s.write_all(body)
        };
        // Done sending: a server still draining a body it refused sees the end, and closes.
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in the answer: {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_string());
        (status, body)
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
        self.request("POST", path, &[("Content-Type", content_type)], body)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The MNIST test images and labels (from data/mnist).
pub fn test_set() -> wgnn::data::Dataset {
    wgnn::data::load_dir(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/mnist"
    )))
    .expect("the MNIST files are in data/mnist")
    .test
}

/// Test image `i` as a PNG, dark ink on white, scaled up `scale` times (as a user's file might
/// be), and its label.
pub fn digit_png(set: &wgnn::data::Dataset, i: usize, scale: u32) -> (Vec<u8>, u8) {
    let (w, h) = (set.width as u32, set.height as u32);
    let img = image::GrayImage::from_fn(w * scale, h * scale, |x, y| {
        let v = set.image(i)[(y / scale * w + x / scale) as usize];
        image::Luma([255 - v])
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    (png, set.labels[i])
}
