//! The CPU executor: the same plan and parameter layout as the GPU, run with the reference ops
//! (convolutions through im2col; every GEMM through the packed, multi-threaded `cpu_gemm`).
//! It is the oracle for whole-step GPU tests and the fallback when no adapter exists.

use std::ops::ControlFlow;

use super::backend::{Backend, EpochStats, GraphState, Metrics, Mode, Pass, Progress, Tensors};
use super::checks::{check_layout, check_order, check_pass, check_state};
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
    /// None: a forward-only graph (inference), with no optimizer state or gradients.
    opt: Option<Optimizer>,
    seed: u64,
    t: u32,
    pub params: Vec<Vec<f32>>,
    pub stats: Vec<Vec<f32>>,
    /// The optimizer's state buffers (`Optimizer::slot_names`), one vector per parameter tensor.
    slots: Vec<Tensors>,
    data: Vec<Option<Data>>,
    augment: Option<crate::ops::augment::Augment>,
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
    /// A training graph: parameters initialised from `seed`, optimizer state zero.
    pub fn new(plan: Plan, opt: Optimizer, seed: u64) -> Result<Self> {
        let mut g = Self::build(plan, Some(opt), seed)?;
        g.slots = (0..opt.state_buffers())
            .map(|_| g.params.iter().map(|p| vec![0.0; p.len()]).collect())
            .collect();
        Ok(g)
    }

    /// A forward-only graph for evaluation and prediction; give it weights with `set_params`.
    pub fn inference(plan: Plan) -> Result<Self> {
        Self::build(plan, None, 0)
    }

    fn build(plan: Plan, opt: Option<Optimizer>, seed: u64) -> Result<Self> {
        crate::util::malloc::keep_freed_memory();
        let params = init_params(&plan.params, seed);
        let stats = init_params(&plan.stats, seed);
        Ok(Self {
            plan,
            opt,
            seed,
            t: 0,
            slots: Vec::new(),
            params,
            stats,
            data: Vec::new(),
            augment: None,
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

/// What changes from step to step: the trainer's values for this one.
#[derive(Clone, Copy)]
struct StepOpts {
    mode: Mode,
    lr: f32,
    smoothing: f32,
    augment: bool,
}

/// One step's outcome: summed loss, correct count, predictions and logits of the padded batch.
struct StepOut {
    metrics: Metrics,
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
        (k, batch): (usize, usize),
        s: StepOpts,
        timer: &mut Timer,
    ) -> StepOut {
        let StepOpts {
            mode,
            lr,
            smoothing,
            augment,
        } = s;
        let b = self.plan.max_batch;
        let classes = self.plan.classes;
        let t = self.t + 1;
        timer.start();
        let (x, labels) = match (self.augment, augment && mode == Mode::Train) {
            (Some(a), true) => crate::ops::augment::gather_augment_ref(
                &data.images,
                &data.labels,
                self.plan.input,
                order,
                k * b,
                batch,
                b,
                self.seed,
                t,
                &a,
            ),
            _ => gather::gather_ref(
                &data.images,
                &data.labels,
                data.sample_len,
                order,
                k * b,
                batch,
                b,
            ),
        };
        timer.stop_named("gather");
        let (mut acts, saved) = self.forward(x, batch, mode, t, timer);
        timer.start();
        let logits = acts.last().expect("output present");
        let eps = if mode == Mode::Train { smoothing } else { 0.0 };
        let xent = loss::softmax_xent_smoothed_ref(classes, logits, &labels, batch, eps);
        let m = loss::accumulate_ref(&xent, &labels, batch);
        timer.stop_named("softmax + cross-entropy");
        if let (Mode::Train, Some(opt)) = (mode, self.opt) {
            let grads = self.backward(&acts, &saved, xent.grad, batch, timer);
            timer.start();
            self.t = t;
            let (first, second): (&mut [Vec<f32>], &mut [Vec<f32>]) =
                match self.slots.as_mut_slice() {
                    [] => (&mut [], &mut []),
                    [a] => (a, &mut []),
                    [a, b, ..] => (a, b),
                };
            for (i, (p, g)) in self.params.iter_mut().zip(&grads).enumerate() {
                let s1 = first.get_mut(i).map_or(&mut [][..], |v| v.as_mut_slice());
                let s2 = second.get_mut(i).map_or(&mut [][..], |v| v.as_mut_slice());
                optim::update_ref(&opt, t, lr, p, g, s1, s2);
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
            metrics: m,
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
        let kept = self.state()?;
        let lr = self.opt.map_or(0.0, |o| o.lr());
        // A warm-up step first, so the profile shows the steady state (recycled buffers).
        let opts = StepOpts {
            mode: Mode::Train,
            lr,
            smoothing: 0.0,
            augment: self.augment.is_some(),
        };
        self.step(&data, &order, (0, batch), opts, &mut Timer::off());
        let mut timer = Timer::on();
        self.step(&data, &order, (0, batch), opts, &mut timer);
        self.set_state(&kept)?;
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

    fn set_augment(&mut self, augment: Option<crate::ops::augment::Augment>) {
        self.augment = augment;
    }

    fn run(
        &mut self,
        pass: &Pass<'_>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<EpochStats> {
        let b = self.plan.max_batch;
        let classes = self.plan.classes;
        let order = pass.order;
        let steps = pass.steps(b);
        check_pass(pass, self.opt.is_some(), b, self.augment.is_some())?;
        let data = self
            .data
            .get_mut(pass.id)
            .and_then(|d| d.take())
            .ok_or_else(|| Error::Msg(format!("data set {} not loaded", pass.id)))?;
        let result = (|| {
            check_order(order, data.labels.len())?;
            let mut out = EpochStats::default();
            let mut sums = pass.start;
            let mut done = 0;
            for k in 0..steps {
                let batch = (order.len() - k * b).min(b);
                let lr = pass.lrs.get(k).copied().unwrap_or(0.0);
                let opts = StepOpts {
                    mode: pass.mode,
                    lr,
                    smoothing: pass.label_smoothing,
                    augment: pass.augment,
                };
                let r = self.step(&data, order, (k, batch), opts, &mut Timer::off());
                if pass.mode == Mode::Train && !r.metrics.loss.is_finite() {
                    return Err(Error::Diverged {
                        step: k + 1,
                        loss: r.metrics.loss as f32,
                    });
                }
                sums.add(r.metrics);
                done = k + 1;
                if pass.want_preds {
                    out.preds.extend_from_slice(&r.pred[..batch]);
                    out.probs.extend_from_slice(&loss::softmax_ref(
                        classes,
                        &r.logits[..batch * classes],
                    ));
                }
                let flow = progress(Progress {
                    step: k + 1,
                    steps,
                    loss: Some(sums.mean_loss()),
                    accuracy: Some(sums.accuracy()),
                });
                if flow.is_break() {
                    break;
                }
            }
            let EpochStats { preds, probs, .. } = out;
            Ok(EpochStats {
                preds,
                probs,
                ..EpochStats::new(sums, done)
            })
        })();
        self.data[pass.id] = Some(data);
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

    fn state(&self) -> Result<GraphState> {
        Ok(GraphState {
            params: self.params.clone(),
            stats: self.stats.clone(),
            slots: self.slots.clone(),
            t: self.t,
        })
    }

    fn set_state(&mut self, state: &GraphState) -> Result<()> {
        check_state(&self.plan, self.opt.as_ref(), state)?;
        self.params = state.params.clone();
        self.stats = state.stats.clone();
        self.slots = state.slots.clone();
        self.t = state.t;
        Ok(())
    }

    fn steps_done(&self) -> u32 {
        self.t
    }

    fn profile_step(&mut self, id: usize) -> Result<Vec<(String, f64)>> {
        if self.opt.is_none() {
            return Err(Error::msg(
                "a forward-only graph cannot profile a training step",
            ));
        }
        self.profile_step_impl(id)
    }
}
