//! A small HTTP/1.1 file server on 127.0.0.1 for the download tests: it serves fixed files by
//! path, honours `Range: bytes=N-`, answers 404 for anything else, can drop a connection halfway
//! through a body or go silent there with the connection open, and logs every request it saw.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the server answered: its path and the first byte of its `Range`, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub range_from: Option<u64>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Paths whose next full (non-Range) response stops after half the body.
    drop_once: Vec<String>,
    /// Paths whose next full response sends half the body, then nothing, holding the connection.
    stall_once: Vec<String>,
    seen: Vec<Seen>,
}

/// The running server; it stops with the test process.
pub struct Server {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        Server { url, state }
    }

    /// Serves `bytes` at `/path`.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), bytes);
    }

    /// The next full response for `/path` closes the connection after half its body.
    pub fn drop_halfway_once(&self, path: &str) {
        self.state.lock().unwrap().drop_once.push(path.to_string());
    }

    /// The next full response for `/path` sends half its body and then goes silent (the
    /// connection stays open for a minute).
    pub fn stall_halfway_once(&self, path: &str) {
        self.state.lock().unwrap().stall_once.push(path.to_string());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The `Range` start of each request for `path`, in order (None: the whole file).
    pub fn ranges(&self, path: &str) -> Vec<Option<u64>> {
        let seen = self.state.lock().unwrap().seen.clone();
        seen.into_iter()
            .filter(|s| s.path == path)
            .map(|s| s.range_from)
            .collect()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut range_from = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("range: bytes=") {
                range_from = r.trim().trim_end_matches('-').parse().ok();
            }
        }
        if !respond(&stream, state, &path, range_from) {
            return;
        }
    }
}

/// Writes one response; false when the connection was closed on purpose.
fn respond(
    mut stream: &TcpStream,
    state: &Mutex<State>,
    path: &str,
    range_from: Option<u64>,
) -> bool {
    let (body, drop) = {
        let mut st = state.lock().unwrap();
        st.seen.push(Seen {
            path: path.to_string(),
            range_from,
        });
        let body = st.files.get(path).cloned();
        let drop = range_from.is_none() && st.drop_once.iter().any(|p| p == path);
        if drop {
            st.drop_once.retain(|p| p != path);
        }
        let stall = range_from.is_none() && st.stall_once.iter().any(|p| p == path);
        if stall {
            st.stall_once.retain(|p| p != path);
        }
        (body, (drop, stall))
    };
    let (drop, stall) = drop;
    let Some(body) = body else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        return true;
    };
    let from = range_from.unwrap_or(0) as usize;
    if from > 0 && from >= body.len() {
        let _ = write!(stream, "HTTP/1.1 416 Range Not Satisfiable\r\ncontent-range: bytes */{}\r\ncontent-length: 0\r\n\r\n", body.len());
        return true;
    }
    let part = &body[from..];
    let head = match range_from {
        Some(_) => format!(
            "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes {from}-{}/{}\r\ncontent-length: {}\r\n\r\n",
            body.len() - 1,
            body.len(),
            part.len()
        ),
        None => format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", part.len()),
    };
    let _ = stream.write_all(head.as_bytes());
    if stall {
        let _ = stream.write_all(&part[..part.len() / 2]);
        let _ = stream.flush();
        std::thread::sleep(std::time::Duration::from_secs(60));
        return false;
    }
    if drop {
        let _ = stream.write_all(&part[..part.len() / 2]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return false;
    }
    let _ = stream.write_all(part);
    true
}
