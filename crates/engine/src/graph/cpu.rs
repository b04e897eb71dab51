//! The CPU executor: the same plan and parameter layout as the GPU, run with the reference ops
//! (convolutions as implicit GEMM, fused with a max pooling after them where its windows tile the
//! rows; dense layers through the packed, multi-threaded `cpu::gemm`).
//! It is the oracle for whole-step GPU tests and the fallback when no adapter exists.

use crate::util::simd::Isa;
use std::ops::ControlFlow;

use super::backend::{Backend, EpochStats, GraphState, Metrics, Mode, Pass, Progress, Tensors};
use super::checks::{check_layout, check_order, check_pass, check_state, take_loaded};
use super::drive::{drive, Chunk};
use super::plan::{Node, Plan};
use super::{init_params, HostData};
use crate::error::{Error, Result};
use crate::layers::{ConvMaxPool, CpuCx};
use crate::ops::ema::{self, Ema};
use crate::ops::optim::Optimizer;
use crate::ops::{gather, loss, optim};
use crate::util::recycle::Recycler;

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
    /// The weights' moving average and its setting, when the graph keeps one.
    average: Option<(Ema, Tensors)>,
    /// The loaded sets, shared with the caller (never copied: they may be mapped files).
    data: Vec<Option<HostData>>,
    augment: Option<crate::ops::augment::Augment>,
    /// Large buffers passed from one step to the next (see `util::recycle`).
    floats: Recycler<f32>,
    indices: Recycler<u32>,
    /// `fused[i]`: nodes i and i + 1 (a convolution and a max pooling) as one pass.
    fused: Vec<Option<ConvMaxPool>>,
    /// The widest instruction set the kernels may use.
    isa: Isa,
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

    /// The same training graph, also keeping the moving average `ema` of its weights.
    pub fn averaging(mut self, ema: Ema) -> Self {
        self.average = Some((ema, self.params.clone()));
        self
    }

    /// A forward-only graph for evaluation and prediction; give it weights with `set_params`.
    pub fn inference(plan: Plan) -> Result<Self> {
        Self::build(plan, None, 0)
    }

    fn build(plan: Plan, opt: Option<Optimizer>, seed: u64) -> Result<Self> {
        let params = init_params(&plan.params, seed);
        let stats = init_params(&plan.stats, seed);
        let fused = plan
            .conv_pool_pairs()
            .into_iter()
            .map(|f| f.filter(ConvMaxPool::fuses_on_cpu))
            .collect();
        Ok(Self {
            fused,
            plan,
            opt,
            seed,
            t: 0,
            slots: Vec::new(),
            average: None,
            params,
            stats,
            data: Vec::new(),
            augment: None,
            floats: Recycler::default(),
            indices: Recycler::default(),
            isa: Isa::detected(),
        })
    }

    /// The same graph with its kernels held to instruction set `isa` (this processor's widest
    /// by default); an error if the processor does not run it.
    pub fn with_isa(mut self, isa: Isa) -> Result<Self> {
        if !isa.supported() {
            return Err(Error::msg(format!(
                "this processor does not run the CPU kernels' {isa} path"
            )));
        }
        self.isa = isa;
        Ok(self)
    }

    /// The instruction set the kernels use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The op context of a step over a batch of `batch` real samples at optimizer step `t`.
    fn cx<'a>(
        &'a mut self,
        grads: &'a mut [Vec<f32>],
        batch: usize,
        t: u32,
    ) -> (&'a Plan, CpuCx<'a>) {
        let cx = CpuCx {
            params: &self.params,
            stats: &mut self.stats,
            grads,
            batch,
            max_batch: self.plan.max_batch,
            seed: self.seed,
            t,
            floats: &mut self.floats,
            indices: &mut self.indices,
            isa: self.isa,
        };
        (&self.plan, cx)
    }

    /// Forward pass over one padded batch: every activation (index 0 is the input) and what each
    /// op keeps for the backward pass. A fused pair leaves the first op's output empty and keeps
    /// nothing for it.
    fn forward(
        &mut self,
        x: Vec<f32>,
        batch: usize,
        mode: Mode,
        t: u32,
        timer: &mut Timer,
    ) -> (Vec<Vec<f32>>, Vec<Saved>) {
        let fused = std::mem::take(&mut self.fused);
        let (plan, mut cx) = self.cx(&mut [], batch, t);
        let mut acts = vec![x];
        let mut saved: Vec<Saved> = Vec::with_capacity(plan.nodes.len());
        let mut i = 0;
        while i < plan.nodes.len() {
            timer.start();
            let x = acts.last().expect("input present");
            if let Some(f) = fused.get(i).and_then(Option::as_ref) {
                let (y, arg) = f.cpu_forward(&mut cx, x, mode);
                acts.extend([Vec::new(), y]);
                saved.extend([Box::new(()) as Saved, Box::new(arg)]);
                timer.stop_named(&format!("{} forward", f.describe()));
                i += 2;
                continue;
            }
            let node = &plan.nodes[i];
            let (y, sv) = node.cpu_forward(&mut cx, x, mode);
            acts.push(y);
            saved.push(sv);
            timer.stop(node, "forward");
            i += 1;
        }
        self.fused = fused;
        (acts, saved)
    }

    /// Backward pass: parameter gradients in plan order.
    fn backward(
        &mut self,
        acts: &[Vec<f32>],
        saved: Vec<Saved>,
        dlogits: Vec<f32>,
        batch: usize,
        timer: &mut Timer,
    ) -> Vec<Vec<f32>> {
        let mut grads: Vec<Vec<f32>> = self.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let fused = std::mem::take(&mut self.fused);
        let (plan, mut cx) = self.cx(&mut grads, batch, 0);
        let mut dy = dlogits;
        let mut saved = saved;
        let mut i = plan.nodes.len();
        while i > 0 {
            i -= 1;
            timer.start();
            let sv = saved.pop().expect("one saved state per node");
            if let Some(f) = i.checked_sub(1).and_then(|j| fused.get(j)?.as_ref()) {
                // Node i is the pooling of a fused pair: one pass for it and the convolution.
                saved.pop();
                let arg = *sv
                    .downcast::<Vec<u32>>()
                    .expect("the fused pass saved the argmax");
                dy = f.cpu_backward(&mut cx, &acts[i - 1], &acts[i + 1], arg, dy, i > 1);
                timer.stop_named(&format!("{} backward", f.describe()));
                i -= 1;
                continue;
            }
            let node = &plan.nodes[i];
            dy = node.cpu_backward(&mut cx, &acts[i], &acts[i + 1], sv, dy, i > 0);
            timer.stop(node, "backward");
        }
        self.fused = fused;
        grads
    }
}

/// What one op's forward pass kept for its backward pass.
type Saved = Box<dyn std::any::Any + Send>;

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
            self.stop_named(&format!("{} {pass}", node.describe()));
        }
    }
    fn stop_named(&mut self, name: &str) {
        if let (Some(rows), Some(t0)) = (&mut self.rows, self.t0.take()) {
            rows.push((name.to_string(), t0.elapsed().as_secs_f64()));
        }
    }
}

impl CpuGraph {
    /// The input and labels of batch `k` of `order` (`batch` images), augmented when `augment`
    /// and the graph has an augmentation (its draws keyed by step `t`).
    fn gather(
        &self,
        data: &HostData,
        order: &[u32],
        (k, batch): (usize, usize),
        augment: bool,
        t: u32,
    ) -> (Vec<f32>, Vec<u32>) {
        let b = self.plan.max_batch;
        match (self.augment, augment) {
            (Some(a), true) => crate::ops::augment::gather_augment_cpu(
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
            _ => gather::gather_cpu(
                &data.images,
                &data.labels,
                data.sample_len,
                order,
                k * b,
                batch,
                b,
            ),
        }
    }

    /// One optimizer update of every parameter at step `self.t`, with up to two state slots each.
    fn update(&mut self, opt: &Optimizer, lr: f32, grads: &[Vec<f32>]) {
        let (first, second): (&mut [Vec<f32>], &mut [Vec<f32>]) = match self.slots.as_mut_slice() {
            [] => (&mut [], &mut []),
            [a] => (a, &mut []),
            [a, b, ..] => (a, b),
        };
        for (i, (p, g)) in self.params.iter_mut().zip(grads).enumerate() {
            let s1 = first.get_mut(i).map_or(&mut [][..], |v| v.as_mut_slice());
            let s2 = second.get_mut(i).map_or(&mut [][..], |v| v.as_mut_slice());
            optim::update_cpu(opt, self.t, lr, p, g, s1, s2);
        }
    }

    /// The moving average's step after update `t`, where the graph keeps one.
    fn update_average(&mut self, t: u32, timer: &mut Timer) {
        if let Some((ema, average)) = &mut self.average {
            timer.start();
            for (a, p) in average.iter_mut().zip(&self.params) {
                ema::update_cpu(*ema, t, p, a);
            }
            timer.stop_named("moving average");
        }
    }

    /// Batch `k` of `order`: forward, loss, and in train mode backward and the optimizer update.
    fn step(
        &mut self,
        data: &HostData,
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
        let classes = self.plan.classes;
        let t = self.t + 1;
        timer.start();
        let (x, labels) = self.gather(data, order, (k, batch), augment && mode == Mode::Train, t);
        timer.stop_named("gather");
        let (mut acts, mut saved) = self.forward(x, batch, mode, t, timer);
        timer.start();
        let logits = acts.last().expect("output present");
        let eps = if mode == Mode::Train { smoothing } else { 0.0 };
        let xent = loss::softmax_xent_smoothed_cpu(classes, logits, &labels, batch, eps);
        let m = loss::accumulate_cpu(&xent, &labels, batch);
        timer.stop_named("softmax + cross-entropy");
        if let (Mode::Train, Some(opt)) = (mode, self.opt) {
            let saved = std::mem::take(&mut saved);
            let grads = self.backward(&acts, saved, xent.grad, batch, timer);
            timer.start();
            self.t = t;
            self.update(&opt, lr, &grads);
            timer.stop_named("optimizer");
            self.update_average(t, timer);
        }
        let logits = acts.pop().unwrap_or_default();
        // The input came from `gather`, not from the recycler.
        self.floats.give_all(acts.into_iter().skip(1));
        let (plan, mut cx) = self.cx(&mut [], batch, t);
        for (node, sv) in plan.nodes.iter().zip(saved) {
            node.cpu_discard(&mut cx, sv);
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
        let data = take_loaded(&mut self.data, id)?;
        let batch = self.plan.max_batch.min(data.labels.len());
        let order: Vec<u32> = (0..batch as u32).collect();
        let kept = self.state()?;
        // At lr 0, as the GPU graph profiles: the state is put back afterwards anyway, and the
        // learning rate changes no op's time.
        let lr = 0.0;
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
        format!(
            "CPU backend ({} threads, {})",
            rayon::current_num_threads(),
            self.isa
        )
    }

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn batch_size(&self) -> usize {
        self.plan.max_batch
    }

    fn load(&mut self, id: usize, data: HostData) -> Result<()> {
        self.plan.check_data(&data)?;
        if self.data.len() <= id {
            self.data.resize_with(id + 1, || None);
        }
        self.data[id] = Some(data);
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
        let data = take_loaded(&mut self.data, pass.id)?;
        let result = (|| {
            check_order(order, data.labels.len())?;
            let mut out = EpochStats::default();
            let mut sums = pass.start;
            let done = drive(steps, progress, |k| {
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
                if pass.want_preds {
                    out.preds.extend_from_slice(&r.pred[..batch]);
                    out.probs.extend_from_slice(&loss::softmax_cpu(
                        classes,
                        &r.logits[..batch * classes],
                    ));
                }
                Ok(Chunk {
                    done: k + 1,
                    running: Some(sums),
                })
            })?;
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
        // New weights start a new average (`--init-from`, early stopping's best weights).
        if let Some((_, average)) = &mut self.average {
            average.clone_from(&self.params);
        }
        Ok(())
    }

    fn state(&self) -> Result<GraphState> {
        Ok(GraphState {
            params: self.params.clone(),
            stats: self.stats.clone(),
            slots: self.slots.clone(),
            t: self.t,
            average: self.average.as_ref().map(|(_, a)| a.clone()),
        })
    }

    fn set_state(&mut self, state: &GraphState) -> Result<()> {
        let averaging = self.average.is_some();
        check_state(&self.plan, (self.opt.as_ref(), averaging), state)?;
        self.params = state.params.clone();
        self.stats = state.stats.clone();
        self.slots = state.slots.clone();
        self.t = state.t;
        if let (Some((_, average)), Some(saved)) = (&mut self.average, &state.average) {
            average.clone_from(saved);
        }
        Ok(())
    }

    fn steps_done(&self) -> u32 {
        self.t
    }

    fn swap_average(&mut self) -> Result<bool> {
        match &mut self.average {
            Some((_, average)) => {
                std::mem::swap(&mut self.params, average);
                Ok(true)
            }
            None => Ok(false),
        }
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
