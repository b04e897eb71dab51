//! The CPU executor: the same plan and parameter layout as the GPU, run with the reference ops
//! (convolutions through im2col; every GEMM through the packed, multi-threaded `cpu_gemm`).
//! It is the oracle for whole-step GPU tests and the fallback when no adapter exists.

use super::backend::{Backend, EpochStats, Mode, Progress, Tensors};
use super::gpu::check_layout;
use super::plan::{Node, Plan};
use super::{init_params, HostData};
use crate::error::{Error, Result};
use crate::ops::optim::Optimizer;
use crate::ops::{
    batchnorm, cpu_gemm, dropout, elementwise, gather, gemm, im2col, loss, optim, pool, reduce,
};
use crate::util::recycle::Recycler;

struct Data {
    images: Vec<u8>,
    labels: Vec<u8>,
    sample_len: usize,
}

pub struct CpuGraph {
    pub plan: Plan,
    opt: Optimizer,
    seed: u32,
    t: u32,
    pub params: Vec<Vec<f32>>,
    pub stats: Vec<Vec<f32>>,
    s1: Vec<Vec<f32>>,
    s2: Vec<Vec<f32>>,
    data: Vec<Option<Data>>,
    /// Large buffers passed from one step to the next (see `util::recycle`).
    floats: Recycler<f32>,
    indices: Recycler<u32>,
}

/// What the forward pass keeps for the backward pass.
#[derive(Default)]
struct Saved {
    argmax: Vec<u32>,
    mask: Vec<f32>,
    mean: Vec<f32>,
    invstd: Vec<f32>,
    /// A convolution's input patches (im2col), reused by its weight gradient.
    cols: Vec<f32>,
}

impl CpuGraph {
    pub fn new(plan: Plan, opt: Optimizer, seed: u64) -> Result<Self> {
        crate::util::malloc::keep_freed_memory();
        let params = init_params(&plan.params, seed);
        let stats = init_params(&plan.stats, seed);
        let zeros: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
        Ok(Self {
            plan,
            opt,
            seed: seed as u32,
            t: 0,
            s1: zeros.clone(),
            s2: zeros,
            params,
            stats,
            data: Vec::new(),
            floats: Recycler::default(),
            indices: Recycler::default(),
        })
    }

    /// Forward pass over one padded batch: every activation (index 0 is the input) and the saves.
    fn forward(
        &mut self,
        x: Vec<f32>,
        batch: usize,
        mode: Mode,
        t: u32,
        timer: &mut Timer,
    ) -> (Vec<Vec<f32>>, Vec<Saved>) {
        let mut acts = vec![x];
        let mut saved = Vec::with_capacity(self.plan.nodes.len());
        for node in &self.plan.nodes {
            timer.start();
            let x = acts.last().expect("input present");
            let mut sv = Saved::default();
            let y = match node {
                Node::Conv { s, relu, w, b } => {
                    let mut cols = self.floats.take(s.n * s.oh * s.ow * s.kh * s.kw * s.cin);
                    im2col::im2col_into(s, x, &mut cols);
                    let mut y = self.floats.take(s.n * s.oh * s.ow * s.cout);
                    let (w, b) = (&self.params[*w], &self.params[*b]);
                    im2col::forward_from_cols_into(s, &cols, w, b, *relu, &mut y);
                    if mode == Mode::Train {
                        sv.cols = cols;
                    } else {
                        self.floats.give(cols);
                    }
                    y
                }
                Node::Pool { s } => {
                    let mut y = self.floats.take(s.y_len());
                    let mut arg = self.indices.take(s.y_len());
                    pool::forward_into(s, x, &mut y, &mut arg);
                    sv.argmax = arg;
                    y
                }
                Node::Dense {
                    inputs,
                    units,
                    relu,
                    w,
                    b,
                } => {
                    let gs = gemm::GemmShape::dense(self.plan.max_batch, *inputs, *units).forward;
                    let mut y = self.floats.take(gs.m * gs.n);
                    let (w, b) = (&self.params[*w], &self.params[*b]);
                    cpu_gemm::gemm_into(&gs, x, w, Some(b), *relu, &mut y);
                    y
                }
                Node::Dropout { rate, id } if mode == Mode::Train => {
                    sv.mask = self.floats.take(x.len());
                    dropout::mask_into(*rate, self.seed, t, *id, &mut sv.mask);
                    let mut y = self.floats.take(x.len());
                    dropout::forward_into(x, &sv.mask, &mut y);
                    y
                }
                Node::BatchNorm {
                    s,
                    gamma,
                    beta,
                    mean,
                    var,
                } if mode == Mode::Train => {
                    let (g, b) = (&self.params[*gamma], &self.params[*beta]);
                    let (rm, rv) = (&self.stats[*mean], &self.stats[*var]);
                    let mut y = self.floats.take(x.len());
                    let st = batchnorm::forward_train_into(s, batch, x, g, b, rm, rv, &mut y);
                    self.stats[*mean] = st.running_mean;
                    self.stats[*var] = st.running_var;
                    sv.mean = st.mean;
                    sv.invstd = st.invstd;
                    y
                }
                Node::BatchNorm {
                    s,
                    gamma,
                    beta,
                    mean,
                    var,
                } => {
                    let (g, b) = (&self.params[*gamma], &self.params[*beta]);
                    let (rm, rv) = (&self.stats[*mean], &self.stats[*var]);
                    let mut y = self.floats.take(x.len());
                    batchnorm::forward_infer_into(s, x, g, b, rm, rv, &mut y);
                    y
                }
                Node::Relu => {
                    let mut y = self.floats.take(x.len());
                    elementwise::relu_forward_into(x, &mut y);
                    y
                }
                Node::Dropout { .. } | Node::Identity => {
                    let mut y = self.floats.take(x.len());
                    y.copy_from_slice(x);
                    y
                }
            };
            acts.push(y);
            saved.push(sv);
            timer.stop(node, "forward");
        }
        (acts, saved)
    }

    /// Backward pass: parameter gradients in plan order.
    fn backward(
        &mut self,
        acts: &[Vec<f32>],
        saved: &[Saved],
        dlogits: Vec<f32>,
        batch: usize,
        timer: &mut Timer,
    ) -> Vec<Vec<f32>> {
        let b = self.plan.max_batch;
        let mut grads: Vec<Vec<f32>> = self.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let mut dy = dlogits;
        for (i, node) in self.plan.nodes.iter().enumerate().rev() {
            let (x, y) = (&acts[i], &acts[i + 1]);
            timer.start();
            dy = match node {
                Node::Conv {
                    s,
                    relu,
                    w,
                    b: bias,
                } => {
                    let mut g = dy;
                    if *relu {
                        elementwise::relu_backward_in_place(y, &mut g);
                    }
                    let (dw, db) = im2col::backward_weights_from_cols(s, &saved[i].cols, &g);
                    grads[*w] = dw;
                    grads[*bias] = db;
                    let dx = if i > 0 {
                        let mut dcols = self.floats.take(saved[i].cols.len());
                        let mut dx = self.floats.take(x.len());
                        im2col::backward_input_into(s, &self.params[*w], &g, &mut dcols, &mut dx);
                        self.floats.give(dcols);
                        dx
                    } else {
                        Vec::new()
                    };
                    self.floats.give(g);
                    dx
                }
                Node::Pool { s } => {
                    let mut dx = self.floats.take(x.len());
                    pool::backward_into(s, &dy, &saved[i].argmax, &mut dx);
                    self.floats.give(dy);
                    dx
                }
                Node::Dense {
                    inputs,
                    units,
                    relu,
                    w,
                    b: bias,
                } => {
                    let mut g = dy;
                    if *relu {
                        elementwise::relu_backward_in_place(y, &mut g);
                    }
                    let shapes = gemm::GemmShape::dense(b, *inputs, *units);
                    grads[*w] = cpu_gemm::gemm(&shapes.weights, x, &g, None, false);
                    grads[*bias] = reduce::col_sum_ref(b, *units, &g);
                    let dx = if i > 0 {
                        let mut dx = self.floats.take(x.len());
                        let w = &self.params[*w];
                        cpu_gemm::gemm_into(&shapes.input, &g, w, None, false, &mut dx);
                        dx
                    } else {
                        Vec::new()
                    };
                    self.floats.give(g);
                    dx
                }
                Node::Dropout { .. } => {
                    let mut g = dy;
                    dropout::backward_in_place(&mut g, &saved[i].mask);
                    g
                }
                Node::BatchNorm { s, gamma, beta, .. } => {
                    let sv = &saved[i];
                    let mut dx = self.floats.take(x.len());
                    let g = &self.params[*gamma];
                    let (dg, db) = batchnorm::backward_into(
                        s, batch, x, &dy, g, &sv.mean, &sv.invstd, &mut dx,
                    );
                    grads[*gamma] = dg;
                    grads[*beta] = db;
                    self.floats.give(dy);
                    dx
                }
                Node::Relu => {
                    let mut g = dy;
                    elementwise::relu_backward_in_place(y, &mut g);
                    g
                }
                Node::Identity => dy,
            };
            timer.stop(node, "backward");
        }
        grads
    }
}

/// One step's outcome: summed loss, correct count, predictions and logits of the padded batch.
struct StepOut {
    loss: f64,
    hits: usize,
    pred: Vec<u32>,
    logits: Vec<f32>,
}

/// Wall time per op, collected by `profile_step` (inactive in normal runs: no clock reads).
pub(crate) struct Timer {
    rows: Option<Vec<(String, f64)>>,
    t0: Option<std::time::Instant>,
}

impl Timer {
    fn off() -> Self {
        Self {
            rows: None,
            t0: None,
        }
    }
    fn on() -> Self {
        Self {
            rows: Some(Vec::new()),
            t0: None,
        }
    }
    fn start(&mut self) {
        if self.rows.is_some() {
            self.t0 = Some(std::time::Instant::now());
        }
    }
    fn stop(&mut self, node: &Node, pass: &str) {
        // Names are built only while profiling: this runs for every node of every step.
        if self.rows.is_some() {
            self.stop_named(&format!("{} {pass}", node.kind()));
        }
    }
    fn stop_named(&mut self, name: &str) {
        if let (Some(rows), Some(t0)) = (&mut self.rows, self.t0.take()) {
            rows.push((name.to_string(), t0.elapsed().as_secs_f64()));
        }
    }
}

impl CpuGraph {
    /// Batch `k` of `order`: forward, loss, and in train mode backward and the optimizer update.
    fn step(
        &mut self,
        data: &Data,
        order: &[u32],
        k: usize,
        batch: usize,
        mode: Mode,
        timer: &mut Timer,
    ) -> StepOut {
        let b = self.plan.max_batch;
        let classes = self.plan.classes;
        timer.start();
        let (x, labels) = gather::gather_ref(
            &data.images,
            &data.labels,
            data.sample_len,
            order,
            k * b,
            batch,
            b,
        );
        timer.stop_named("gather");
        let t = self.t + 1;
        let (mut acts, saved) = self.forward(x, batch, mode, t, timer);
        timer.start();
        let logits = acts.last().expect("output present");
        let xent = loss::softmax_xent_ref(classes, logits, &labels, batch);
        let m = loss::accumulate_ref(&xent, &labels, batch);
        timer.stop_named("softmax + cross-entropy");
        if mode == Mode::Train {
            let grads = self.backward(&acts, &saved, xent.grad, batch, timer);
            timer.start();
            self.t = t;
            let lr = self.opt.lr();
            for (((p, g), s1), s2) in self
                .params
                .iter_mut()
                .zip(&grads)
                .zip(&mut self.s1)
                .zip(&mut self.s2)
            {
                optim::update_ref(&self.opt, t, lr, p, g, s1, s2);
            }
            timer.stop_named("optimizer");
        }
        let logits = acts.pop().unwrap_or_default();
        // The input came from `gather`, not from the recycler.
        self.floats.give_all(acts.into_iter().skip(1));
        for sv in saved {
            self.floats.give_all([sv.cols, sv.mask]);
            self.indices.give(sv.argmax);
        }
        StepOut {
            loss: m[0] as f64,
            hits: m[1] as usize,
            pred: xent.pred,
            logits,
        }
    }

    /// Seconds spent in each op of one training step on the first batch of data set `id`, after
    /// a warm-up step (the parameters are restored afterwards, so profiling does not train).
    fn profile_step_impl(&mut self, id: usize) -> Result<Vec<(String, f64)>> {
        let data = self
            .data
            .get_mut(id)
            .and_then(|d| d.take())
            .ok_or_else(|| Error::Msg(format!("data set {id} not loaded")))?;
        let batch = self.plan.max_batch.min(data.labels.len());
        let order: Vec<u32> = (0..batch as u32).collect();
        let kept = (
            self.params.clone(),
            self.stats.clone(),
            self.s1.clone(),
            self.s2.clone(),
            self.t,
        );
        // A warm-up step first, so the profile shows the steady state (recycled buffers).
        self.step(&data, &order, 0, batch, Mode::Train, &mut Timer::off());
        let mut timer = Timer::on();
        self.step(&data, &order, 0, batch, Mode::Train, &mut timer);
        (self.params, self.stats, self.s1, self.s2, self.t) = kept;
        self.data[id] = Some(data);
        Ok(timer.rows.unwrap_or_default())
    }
}

impl Backend for CpuGraph {
    fn describe(&self) -> String {
        format!("CPU backend ({} threads)", rayon::current_num_threads())
    }

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn batch_size(&self) -> usize {
        self.plan.max_batch
    }

    fn load(&mut self, id: usize, data: HostData<'_>) -> Result<()> {
        self.plan.check_data(&data)?;
        if self.data.len() <= id {
            self.data.resize_with(id + 1, || None);
        }
        self.data[id] = Some(Data {
            images: data.images.to_vec(),
            labels: data.labels.to_vec(),
            sample_len: data.sample_len,
        });
        Ok(())
    }

    fn run(
        &mut self,
        id: usize,
        order: &[u32],
        mode: Mode,
        want_preds: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<EpochStats> {
        let b = self.plan.max_batch;
        let classes = self.plan.classes;
        let data = self
            .data
            .get_mut(id)
            .and_then(|d| d.take())
            .ok_or_else(|| Error::Msg(format!("data set {id} not loaded")))?;
        let result = (|| {
            if let Some(&bad) = order.iter().find(|&&i| i as usize >= data.labels.len()) {
                return Err(Error::Msg(format!(
                    "sample index {bad} out of range ({} samples)",
                    data.labels.len()
                )));
            }
            let steps = order.len().div_ceil(b);
            let mut out = EpochStats::default();
            let (mut loss_sum, mut hits) = (0f64, 0usize);
            for k in 0..steps {
                let batch = (order.len() - k * b).min(b);
                let r = self.step(&data, order, k, batch, mode, &mut Timer::off());
                loss_sum += r.loss;
                hits += r.hits;
                if want_preds {
                    out.preds.extend_from_slice(&r.pred[..batch]);
                    out.probs.extend_from_slice(&loss::softmax_ref(
                        classes,
                        &r.logits[..batch * classes],
                    ));
                }
                let seen = (k * b + batch) as f32;
                progress(Progress {
                    step: k + 1,
                    steps,
                    loss: Some((loss_sum / seen as f64) as f32),
                    accuracy: Some(hits as f32 / seen),
                });
            }
            out.samples = order.len();
            out.loss = (loss_sum / order.len().max(1) as f64) as f32;
            out.accuracy = hits as f32 / order.len().max(1) as f32;
            if !out.loss.is_finite() {
                return Err(Error::Msg(format!(
                    "training diverged: the loss is {} (try a lower learning rate)",
                    out.loss
                )));
            }
            Ok(out)
        })();
        self.data[id] = Some(data);
        result
    }

    fn params(&self) -> Result<(Tensors, Tensors)> {
        Ok((self.params.clone(), self.stats.clone()))
    }

    fn set_params(&mut self, params: &[Vec<f32>], stats: &[Vec<f32>]) -> Result<()> {
        check_layout(&self.plan, params, stats)?;
        self.params = params.to_vec();
        self.stats = stats.to_vec();
        Ok(())
    }

    fn steps_done(&self) -> u32 {
        self.t
    }

    fn profile_step(&mut self, id: usize) -> Result<Vec<(String, f64)>> {
        self.profile_step_impl(id)
    }
}
