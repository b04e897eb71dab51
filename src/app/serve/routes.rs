//! What each path answers: `GET /` (the page), `GET /model`, `POST /predict`; anything else is
//! a 404 or a 405. Errors are JSON `{"error": "..."}` with a 4xx status for the request's faults;
//! a 5xx only when the model fails (500) or does not answer because the server stops (503).

use std::io::Read;
use std::sync::mpsc::{self, SyncSender};
use std::time::Duration;

use serde_json::json;
use tiny_http::{Header, Method, Request, Response};

use super::model::{Job, Prediction};
use super::request::{self, Refusal, MAX_BODY};
use crate::data::image::Picture;

/// The page, embedded in the binary: no file is read at run time and nothing is fetched.
const PAGE: &str = include_str!("page.html");

/// How long a request waits for the model before it is answered with a 503.
const MODEL_WAIT: Duration = Duration::from_secs(60);

/// What every request may need: the model's description and the queue to it.
pub struct Context {
    /// The body of `GET /model`.
    pub model_json: String,
    /// The model's input shape.
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// How a picture becomes the model's input (digit centring or a plain resize).
    pub picture: Picture,
    pub jobs: SyncSender<Job>,
}

/// A response before it is written: status, content type, body, extra headers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub allow: Option<&'static str>,
}

impl Reply {
    fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
            allow: None,
        }
    }

    pub fn error(r: &Refusal) -> Self {
        Self::json(r.status, &json!({ "error": r.message }))
    }

    pub fn into_response(self) -> Response<std::io::Cursor<Vec<u8>>> {
        let mut resp = Response::from_data(self.body).with_status_code(self.status);
        let mut add = |name: &str, value: &str| {
            if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                resp.add_header(h);
            }
        };
        add("Content-Type", self.content_type);
        add("Cache-Control", "no-store");
        if let Some(allow) = self.allow {
            add("Allow", allow);
        }
        resp
    }
}

/// The path without its query string.
fn path_of(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or("")
}

/// The answer to `rq` (whose body this reads, when it needs it).
pub fn handle(rq: &mut Request, cx: &Context) -> Reply {
    let path = path_of(rq.url()).to_string();
    let method = rq.method().clone();
    let get = matches!(method, Method::Get | Method::Head);
    match path.as_str() {
        "/" | "/index.html" if get => Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.as_bytes().to_vec(),
            allow: None,
        },
        "/model" if get => Reply {
            status: 200,
            content_type: "application/json",
            body: cx.model_json.clone().into_bytes(),
            allow: None,
        },
        "/predict" if method == Method::Post => match predict(rq, cx) {
            Ok(v) => Reply::json(200, &v),
            Err(r) => Reply::error(&r),
        },
        "/" | "/index.html" | "/model" => not_allowed(&method, &path, "GET, HEAD"),
        "/predict" => not_allowed(&method, &path, "POST"),
        _ => Reply::error(&Refusal::new(
            404,
            format!(
                "there is nothing at {path}: the server has GET /, GET /model and POST /predict"
            ),
        )),
    }
}

fn not_allowed(method: &Method, path: &str, allow: &'static str) -> Reply {
    let mut r = Reply::error(&Refusal::new(
        405,
        format!("{path} takes {allow}, not {method}"),
    ));
    r.allow = Some(allow);
    r
}

fn content_type(rq: &Request) -> Option<String> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_string())
}

/// Reads the body, at most `MAX_BODY` bytes of it.
fn read_body(rq: &mut Request) -> Result<Vec<u8>, Refusal> {
    request::check_length(rq.body_length())?;
    let mut body = Vec::with_capacity(rq.body_length().unwrap_or(0));
    rq.as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Refusal::new(400, format!("cannot read the body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(request::too_large(None));
    }
    Ok(body)
}

fn predict(rq: &mut Request, cx: &Context) -> Result<serde_json::Value, Refusal> {
    let kind = request::body_kind(content_type(rq).as_deref())?;
    let body = read_body(rq)?;
    let image = request::image_from_body(kind, &body)?;
    let input = cx
        .picture
        .input(&image, [cx.height, cx.width, cx.channels])
        .map_err(|m| Refusal::new(422, m))?;
    let (tx, rx) = mpsc::channel();
    cx.jobs
        .send(Job {
            input: input.clone(),
            reply: tx,
        })
        .map_err(|_| Refusal::new(503, "the server is stopping"))?;
    let p: Prediction = match rx.recv_timeout(MODEL_WAIT) {
        Ok(Ok(p)) => p,
        Ok(Err(m)) => return Err(Refusal::new(500, m)),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(Refusal::new(503, "the model did not answer in time"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(Refusal::new(503, "the server is stopping"))
        }
    };
    Ok(json!({
        "class": p.class,
        "probabilities": p.probabilities,
        "input": { "width": cx.width, "height": cx.height, "channels": cx.channels, "pixels": input },
    }))
}
