//! `wgnn serve`: a page to draw digits on and `POST /predict`, from one loaded checkpoint.
//!
//! The listener is tiny_http's: [`WORKERS`] threads take requests from it, read and check their
//! bodies and preprocess the images (`routes`, `request`), and queue the model inputs to the
//! thread that owns the backend (`model`), which is the thread that called [`run`]. Ctrl-C or
//! SIGTERM stops the loop; the workers finish the request they hold and the command returns.

mod model;
pub mod request;
mod routes;

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use tiny_http::Server;

use super::backend::{with_backend, BackendKind, GraphKind};
use super::device::Device;
use super::signals::{self, StopSignals};
use crate::data::image::Picture;
use crate::error::{Error, Result};
use crate::graph::Plan;
use crate::train::checkpoint;
use routes::{Context, Reply};

/// Threads reading requests (each holds one request at a time; the model has its own thread).
const WORKERS: usize = 8;

/// The compiled batch: up to this many queued requests share one forward pass.
const BATCH: usize = 16;

/// Requests waiting for the model beyond this wait to be queued.
const QUEUE: usize = 64;

/// The flags of `wgnn serve`.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// 0 picks a free port (the line printed on start says which)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on (0.0.0.0: every interface)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
}

pub fn run(a: &ServeArgs, device: &Device) -> Result<()> {
    let dir = a.checkpoint.as_path();
    let spec = checkpoint::load_spec(dir)?;
    let trained_on = checkpoint::load_run(dir)?.data;
    let class_names = &trained_on.class_names;
    let [h, w, c] = spec.input;
    let picture = Picture::for_data(trained_on.dataset.as_deref(), class_names, c);
    let classes = spec.classes()?;
    let (params_total, _) = spec.param_counts()?;
    let plan = Plan::new(spec.input, &spec.layers, BATCH)?;
    let (params, stats) = checkpoint::load_params(dir, &plan)?;
    let weights = super::eval::say_weights(dir)?.unwrap_or_else(|| "the last step's".into());
    with_backend(a.backend, device, plan, GraphKind::Inference, |b| {
        b.set_params(&params, &stats)?;
        let device = b.describe();
        let server = Server::http((a.host.as_str(), a.port)).map_err(|e| {
            Error::msg(format!(
                "serve: cannot listen on {}:{}: {e}",
                a.host, a.port
            ))
        })?;
        let addr: Option<SocketAddr> = server.server_addr().to_ip();
        let url = match addr {
            Some(addr) => format!("http://{addr}/"),
            None => format!("http://{}:{}/", a.host, a.port),
        };
        let model_json = json!({
            "model": spec.name,
            "checkpoint": dir.display().to_string(),
            "backend": device,
            "parameters": params_total,
            "input": [h, w, c],
            "classes": classes,
            "class_names": class_names,
            "max_body_bytes": request::MAX_BODY,
            "max_image_side": request::MAX_SIDE,
            "weights": weights,
        })
        .to_string();
        let signals = StopSignals::install()?;
        // This line is what scripts and tests wait for: the socket is bound by now.
        println!(
            "wgnn serve: listening on {url} - model `{}` from {} on {device} (Ctrl-C stops)",
            spec.name,
            dir.display()
        );
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let cx = Context {
            model_json,
            height: h,
            width: w,
            channels: c,
            picture,
            jobs,
        };
        let stopping = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..WORKERS {
                s.spawn(|| worker(&server, &cx, &stopping));
            }
            model::answer_jobs(b, [h, w, c], queue, || signals.received().is_some());
            stopping.store(true, Ordering::SeqCst);
        });
        if let Some(sig) = signals.received() {
            eprintln!("wgnn serve: stopped by {}", signals::name(sig));
        }
        Ok(())
    })
}

/// Answers requests until `stopping`. A panic while answering one (a bug: request data is never
/// unwrapped) becomes a 500 for that request, and the worker carries on.
fn worker(server: &Server, cx: &Context, stopping: &AtomicBool) {
    while !stopping.load(Ordering::SeqCst) {
        let mut rq = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(rq)) => rq,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("wgnn serve: cannot accept a request: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let reply =
            catch_unwind(AssertUnwindSafe(|| routes::handle(&mut rq, cx))).unwrap_or_else(|_| {
                Reply::error(&request::Refusal::new(
                    500,
                    "the server failed on this request (a bug: please report it)",
                ))
            });
        // A client that hung up is not the server's problem.
        let _ = rq.respond(reply.into_response());
    }
}
