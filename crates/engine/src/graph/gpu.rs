//! The GPU executor: every buffer (parameters, activations, gradients, optimizer state) and every
//! bind group is made once in `new`; a step is a fixed list of recorded dispatches, and an epoch is
//! replayed in chunks of many steps per submission, with no per-step allocation or readback.

use std::any::Any;
use std::collections::HashMap;
use std::ops::ControlFlow;

use super::backend::{
    Backend, EpochStats, GraphState, MemoryUse, Metrics, Mode, Pass, Progress, Tensors,
};
use super::checks::{check_layout, check_order, check_pass, check_state, take_loaded};
use super::drive::{drive, Chunk};
use super::gpu_average::Average;
use super::memory::Limits;
use super::plan::Plan;
use super::stream::{why_stream, Residency, Stream, Targets};
use super::{init_params, HostData};
use crate::bail;
use crate::error::{Error, Result};
use crate::layers::{ConvMaxPool, GpuCx};
use crate::ops::elementwise::Act;
use crate::ops::ema::Ema;
use crate::ops::optim::Optimizer;
use crate::ops::step::{StepParams, STEP_WORDS};
use crate::ops::{gather, loss, optim};
use crate::runtime::{time_each, AsyncReadback, Cost, Dispatch, GpuContext, GpuTensor};

/// Steps recorded into one command buffer.
const STEPS_PER_SUBMIT: usize = 32;

/// A data set on the GPU: whole, or streamed through a ring of chunks (with why it streams).
enum DataSet {
    Whole(Whole),
    Streamed(Stream, String),
}

/// A data set resident on the GPU (bytes, labels, the current order) and its gather dispatch.
struct Whole {
    n: usize,
    perm: GpuTensor,
    gather: Dispatch,
    /// The gather that also transforms each image (when augmentation was set before loading).
    gather_augment: Option<Dispatch>,
}

impl DataSet {
    fn len(&self) -> usize {
        match self {
            DataSet::Whole(w) => w.n,
            DataSet::Streamed(s, _) => s.len(),
        }
    }

    /// How the set is held, for people.
    fn held(&self) -> String {
        match self {
            DataSet::Whole(_) => "held whole on the GPU".into(),
            DataSet::Streamed(_, why) => why.clone(),
        }
    }

    fn can_augment(&self) -> bool {
        match self {
            DataSet::Whole(w) => w.gather_augment.is_some(),
            DataSet::Streamed(s, _) => s.can_augment(),
        }
    }

    /// Steps per submission.
    fn chunk_steps(&self) -> usize {
        match self {
            DataSet::Whole(_) => STEPS_PER_SUBMIT,
            DataSet::Streamed(s, _) => s.steps,
        }
    }
}

pub struct GpuGraph<'c> {
    ctx: &'c GpuContext,
    pub plan: Plan,
    /// None: a forward-only graph (inference), with no gradients, backward pass or optimizer.
    opt: Option<Optimizer>,
    seed: u64,
    t: u32,
    /// Each arena is one buffer (read back in one go) and a view per tensor.
    params_all: GpuTensor,
    params: Vec<GpuTensor>,
    stats_all: GpuTensor,
    stats: Vec<GpuTensor>,
    /// The optimizer's state buffers (`Optimizer::slot_names`), one view per parameter tensor.
    slots_all: Vec<GpuTensor>,
    slots: Vec<Vec<GpuTensor>>,
    /// The weights' moving average, when the graph keeps one.
    average: Option<Average>,
    /// The batch the gather writes and the first op reads.
    input: GpuTensor,
    labels: GpuTensor,
    step: GpuTensor,
    steps_all: GpuTensor,
    metrics: GpuTensor,
    /// Running loss and accuracy for the progress bar, read without stalling the GPU.
    progress_read: AsyncReadback,
    row_pred: GpuTensor,
    probs: GpuTensor,
    /// The recorded training step (empty in a forward-only graph) and evaluation step.
    train: Vec<Dispatch>,
    eval: Vec<Dispatch>,
    softmax: Dispatch,
    data: Vec<Option<DataSet>>,
    /// Whether sets loaded from now on may be held whole.
    residency: Residency,
    augment: Option<crate::ops::augment::Augment>,
    // Kept alive: buffers referenced only by recorded bind groups.
    _keep: Vec<GpuTensor>,
}

/// What every op's recording shares: the graph's tensors and the ops' own buffers.
struct Recorder<'a> {
    ctx: &'a GpuContext,
    batch: usize,
    step: &'a GpuTensor,
    params: &'a [GpuTensor],
    grads: &'a [GpuTensor],
    stats: &'a [GpuTensor],
    act_len: &'a [usize],
    buffers: HashMap<(usize, &'static str), GpuTensor>,
}

/// The activation of node `i - 1` whose gradient node `i`'s backward pass applies for it: where
/// node i can (batch normalisation) and node i - 1 is not in a pair; Linear otherwise.
fn act_before(plan: &Plan, pairs: &[Option<ConvMaxPool>], i: usize) -> Act {
    let Some(prev) = i.checked_sub(1) else {
        return Act::Linear;
    };
    let in_pair = pairs[prev].is_some() || prev.checked_sub(1).is_some_and(|j| pairs[j].is_some());
    match plan.nodes[i].applies_act_before() && !in_pair {
        true => plan.nodes[prev].fused_act(),
        false => Act::Linear,
    }
}

/// Each op's input and output in the training step, and what it saved.
type Saved = Vec<(GpuTensor, GpuTensor, Option<Box<dyn Any>>)>;

impl Recorder<'_> {
    /// Every op's forward pass into the training step (when `training`) and the evaluation step,
    /// which share the ops' buffers: the two steps' logits, and what the backward pass needs. A
    /// convolution and its max pooling record one pass for the two (`pairs`); the convolution's
    /// entry then holds the pair's input and output and saves nothing.
    fn forward(
        &mut self,
        (plan, pairs): (&Plan, &[Option<ConvMaxPool>]),
        (train, eval): (&mut Vec<Dispatch>, &mut Vec<Dispatch>),
        input: &GpuTensor,
        training: bool,
    ) -> Result<(GpuTensor, GpuTensor, Saved)> {
        let (mut x_train, mut x_eval) = (input.clone(), input.clone());
        let mut io: Saved = Vec::with_capacity(plan.nodes.len());
        let mut i = 0;
        while i < plan.nodes.len() {
            if let Some(pair) = &pairs[i] {
                if training {
                    let (y, argmax) = pair.gpu_forward(&mut self.pair_cx(train, i), &x_train)?;
                    io.push((x_train.clone(), y.clone(), None));
                    io.push((x_train, y.clone(), Some(Box::new(argmax) as Box<dyn Any>)));
                    x_train = y;
                }
                x_eval = pair.gpu_forward(&mut self.pair_cx(eval, i), &x_eval)?.0;
                i += 2;
                continue;
            }
            let node = &plan.nodes[i];
            if training {
                let (y, saved) = node.gpu_forward(&mut self.cx(train, i), &x_train, Mode::Train)?;
                io.push((x_train, y.clone(), saved));
                x_train = y;
            }
            x_eval = node
                .gpu_forward(&mut self.cx(eval, i), &x_eval, Mode::Eval)?
                .0;
            i += 1;
        }
        Ok((x_train, x_eval, io))
    }

    /// Every op's backward pass into the training step, last op first, from the logits'
    /// gradient.
    fn backward(
        &mut self,
        (plan, pairs): (&Plan, &[Option<ConvMaxPool>]),
        train: &mut Vec<Dispatch>,
        io: &Saved,
        grad_logits: &GpuTensor,
    ) -> Result<()> {
        // `dy` is dL/d(output of op i); the first op's input gradient is never needed. An
        // inference graph saved nothing and records nothing here.
        let mut dy = grad_logits.clone();
        let mut i = io.len();
        // Whether the op after node i applied node i's activation gradient.
        let mut gated = false;
        while i > 0 {
            i -= 1;
            let (x, y, saved) = &io[i];
            let saved = saved
                .as_deref()
                .expect("a training forward pass saves its state");
            let pair = i.checked_sub(1).and_then(|j| pairs[j].as_ref());
            let dx = match pair {
                Some(pair) => {
                    // Node i is the pooling of a pair: one pass for it and the convolution.
                    i -= 1;
                    let argmax = saved
                        .downcast_ref::<GpuTensor>()
                        .expect("the pair's forward pass saved its argmax");
                    gated = false;
                    let cx = &mut self.pair_cx(train, i);
                    pair.gpu_backward(cx, [x, y, argmax], &dy, i > 0)?
                }
                None => {
                    let node = &plan.nodes[i];
                    let before = act_before(plan, pairs, i);
                    let cx = &mut GpuCx {
                        act_before: before,
                        dy_gated: std::mem::replace(&mut gated, before != Act::Linear),
                        ..self.cx(train, i)
                    };
                    node.gpu_backward(cx, (x, y), saved, &dy, i > 0)?
                }
            };
            if let Some(dx) = dx {
                dy = dx;
            }
        }
        Ok(())
    }

    /// The context of the pair that starts at node `node`: the convolution's input, the
    /// pooling's output, the buffers named under the convolution.
    fn pair_cx<'s>(&'s mut self, list: &'s mut Vec<Dispatch>, node: usize) -> GpuCx<'s> {
        let out_len = self.act_len[node + 2];
        GpuCx {
            out_len,
            ..self.cx(list, node)
        }
    }

    /// The context of op `node` recording into `list`.
    fn cx<'s>(&'s mut self, list: &'s mut Vec<Dispatch>, node: usize) -> GpuCx<'s> {
        GpuCx {
            ctx: self.ctx,
            batch: self.batch,
            step: self.step,
            params: self.params,
            grads: self.grads,
            stats: self.stats,
            list,
            node,
            in_len: self.act_len[node],
            out_len: self.act_len[node + 1],
            buffers: &mut self.buffers,
            act_before: Act::Linear,
            dy_gated: false,
        }
    }
}

impl<'c> GpuGraph<'c> {
    /// A training graph: parameters initialised from `seed`, optimizer state zero.
    pub fn new(ctx: &'c GpuContext, plan: Plan, opt: Optimizer, seed: u64) -> Result<Self> {
        Self::build(ctx, plan, Some(opt), seed)
    }

    /// The same training graph, also keeping the moving average `ema` of its weights: one more
    /// dispatch at the end of each training step.
    pub fn averaging(mut self, ema: Ema) -> Result<Self> {
        if self.opt.is_none() {
            bail!("a forward-only graph keeps no moving average of its weights");
        }
        let plens: Vec<usize> = self.plan.params.iter().map(|p| p.len()).collect();
        let (average, update) =
            Average::new(self.ctx, (&self.params_all, &plens), ema, &self.step)?;
        self.train.push(update);
        self.average = Some(average);
        Ok(self)
    }

    /// A forward-only graph for evaluation and prediction; give it weights with `set_params`.
    pub fn inference(ctx: &'c GpuContext, plan: Plan) -> Result<Self> {
        Self::build(ctx, plan, None, 0)
    }

    fn build(ctx: &'c GpuContext, plan: Plan, opt: Option<Optimizer>, seed: u64) -> Result<Self> {
        let b = plan.max_batch;
        let training = opt.is_some();
        let plens: Vec<usize> = plan.params.iter().map(|p| p.len()).collect();
        let slens: Vec<usize> = plan.stats.iter().map(|p| p.len()).collect();
        let (params_all, params) = ctx.alloc_arena(&plens, "params")?;
        // An inference graph has no gradients: its arena stands in, never bound.
        let (grads_all, grads) = match training {
            true => ctx.alloc_arena(&plens, "grads")?,
            false => (params_all.clone(), Vec::new()),
        };
        let (slot_all, slots_all, slots) =
            alloc_slots(ctx, &plens, opt.map_or(0, |o| o.state_buffers()))?;
        let (stats_all, stats) = alloc_stats(ctx, &slens)?;
        let step = ctx.alloc(STEP_WORDS, "step")?;
        let metrics = ctx.alloc(4, "metrics")?;
        let progress_read = AsyncReadback::new(ctx, 4, "progress readback")?;
        let labels = ctx.alloc(b, "labels")?;
        let input = ctx.alloc(plan.act_len[0] * b, "input batch")?;
        let classes = plan.classes;
        let row_loss = ctx.alloc(b, "row loss")?;
        let row_pred = ctx.alloc(b, "row prediction")?;
        let probs = ctx.alloc(b * classes, "probabilities")?;
        let mut keep = vec![grads_all.clone(), row_loss.clone()];
        // Every op records its forward pass twice, for the training step and the evaluation step
        // (which share the ops' buffers), then its backward pass, last op first.
        let (mut train, mut eval) = (Vec::new(), Vec::new());
        let mut rec = Recorder {
            ctx,
            batch: b,
            step: &step,
            params: &params,
            grads: &grads,
            stats: &stats,
            act_len: &plan.act_len,
            buffers: HashMap::new(),
        };
        let pairs = plan.conv_pool_pairs();
        let (logits, eval_logits, io) =
            rec.forward((&plan, &pairs), (&mut train, &mut eval), &input, training)?;
        // The evaluation step's loss also writes a logit gradient, which nobody reads.
        let grad_logits = ctx.alloc(b * classes, "logit gradient")?;
        let xb = loss::XentBuffers {
            logits: &logits,
            labels: &labels,
            step: &step,
            grad: &grad_logits,
            row_loss: &row_loss,
            row_pred: &row_pred,
        };
        if training {
            record_loss(ctx, (b, classes), &xb, &metrics, &mut train)?;
        }
        let xe = loss::XentBuffers {
            logits: &eval_logits,
            ..xb
        };
        record_loss(ctx, (b, classes), &xe, &metrics, &mut eval)?;
        let softmax = loss::softmax(ctx, b, classes, &eval_logits, &probs)?;
        rec.backward((&plan, &pairs), &mut train, &io, &grad_logits)?;
        keep.push(grad_logits);
        keep.extend(rec.buffers.into_values());
        if let Some(opt) = &opt {
            let (p, g, s) = (&params_all, &grads_all, &slot_all);
            train.push(optim::update(ctx, opt, p, g, &s[0], &s[1], &step)?);
        }
        keep.extend(slot_all);

        write_init(ctx, &plan, (&params, &stats), seed)?;
        let steps_all = ctx.alloc(STEP_WORDS, "step records")?;
        Ok(Self {
            ctx,
            plan,
            opt,
            seed,
            t: 0,
            params_all,
            params,
            stats_all,
            stats,
            slots_all,
            slots,
            average: None,
            input,
            labels,
            step,
            steps_all,
            metrics,
            progress_read,
            row_pred,
            probs,
            train,
            eval,
            softmax,
            data: Vec::new(),
            residency: Residency::Auto,
            augment: None,
            _keep: keep,
        })
    }

    /// Seconds spent in each dispatch of one training step on data set `id` (a batch of its first
    /// samples, with lr 0 so the parameters do not move), as `runtime::time_each` measures them.
    fn profile_step_impl(&mut self, id: usize) -> Result<Vec<(String, f64)>> {
        self.with_set(id, |g, data| {
            let ctx = g.ctx;
            let b = g.plan.max_batch.min(data.len());
            let order: Vec<u32> = (0..b as u32).collect();
            let gather = match data {
                DataSet::Whole(w) => {
                    ctx.write(&w.perm, &order)?;
                    &w.gather
                }
                DataSet::Streamed(s, _) => {
                    s.fill(ctx, 0, &order)?;
                    s.gather(0, false)
                }
            };
            let rec = g.record(b, g.t + 1, 0, 0.0, 0.0);
            ctx.write(&g.step, bytemuck::bytes_of(&rec))?;
            ctx.wait()?;
            let list: Vec<&Dispatch> = std::iter::once(gather).chain(&g.train).collect();
            time_each(ctx, &list)
        })
    }

    /// The dispatches of one training step on data set `id` (its gather, then the recorded
    /// step), each with its name and cost, in the order they run.
    pub fn step_dispatches(&self, id: usize) -> Result<Vec<(String, Cost)>> {
        let gather = match self.data.get(id).and_then(Option::as_ref) {
            Some(DataSet::Whole(w)) => &w.gather,
            Some(DataSet::Streamed(s, _)) => s.gather(0, false),
            None => bail!("no data set {id} is loaded"),
        };
        Ok(std::iter::once(gather)
            .chain(&self.train)
            .map(|d| (d.name.clone(), d.cost))
            .collect())
    }

    /// `f` on data set `id`, taken out of `self.data` for the call (so `f` may change both) and
    /// put back whatever `f` returns.
    fn with_set<T>(
        &mut self,
        id: usize,
        f: impl FnOnce(&mut Self, &mut DataSet) -> Result<T>,
    ) -> Result<T> {
        let mut data = take_loaded(&mut self.data, id)?;
        let result = f(self, &mut data);
        self.data[id] = Some(data);
        result
    }

    /// The step record of a batch of `batch` samples starting at `offset` in the permutation.
    fn record(&self, batch: usize, t: u32, offset: usize, lr: f32, smoothing: f32) -> StepParams {
        let (seed, seed_hi) = StepParams::seed_words(self.seed);
        StepParams {
            batch: batch as u32,
            t,
            seed,
            offset: offset as u32,
            lr,
            seed_hi,
            smoothing,
            ..Default::default()
        }
    }

    /// `data` uploaded whole, with its gathers.
    fn whole(&self, data: &HostData) -> Result<Whole> {
        let ctx = self.ctx;
        let images = ctx.alloc(data.images.len().div_ceil(4), "dataset images")?;
        ctx.write_pieces(&images, &data.images)?;
        let labels32: Vec<u32> = data.labels.iter().map(|&l| l as u32).collect();
        let labels = ctx.tensor(&labels32, "dataset labels")?;
        let perm = ctx.alloc(data.len(), "permutation")?;
        let gb = gather::GatherBuffers {
            images: &images,
            labels_all: &labels,
            perm: &perm,
            step: &self.step,
            x: &self.input,
            labels: &self.labels,
        };
        let (b, whole) = (self.plan.max_batch, gather::Layout::Whole);
        let gather = gather::gather(ctx, data.sample_len, b, &gb, whole)?;
        let gather_augment = self
            .augment
            .as_ref()
            .map(|a| gather::gather_augment(ctx, self.plan.input, b, a, &gb, whole))
            .transpose()?;
        Ok(Whole {
            n: data.len(),
            perm,
            gather,
            gather_augment,
        })
    }

    fn ensure_steps(&mut self, records: usize) -> Result<()> {
        if self.steps_all.len < records * STEP_WORDS {
            self.steps_all = self.ctx.alloc(records * STEP_WORDS, "step records")?;
        }
        Ok(())
    }
}

/// The optimizer's two state arenas (all of them, to bind) and the used ones with their views;
/// unused state buffers are 1-element dummies (the optimizer binds none of them).
#[allow(clippy::type_complexity)]
fn alloc_slots(
    ctx: &GpuContext,
    plens: &[usize],
    states: usize,
) -> Result<(Vec<GpuTensor>, Vec<GpuTensor>, Vec<Vec<GpuTensor>>)> {
    let (mut slot_all, mut slots_all, mut slots) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..2 {
        let lens: &[usize] = if k < states { plens } else { &[1] };
        let (all, views) = ctx.alloc_arena(lens, &format!("optimizer state {}", k + 1))?;
        if k < states {
            slots_all.push(all.clone());
            slots.push(views);
        }
        slot_all.push(all);
    }
    Ok((slot_all, slots_all, slots))
}

/// The statistics' arena and views (a 1-element dummy arena when the model keeps none).
fn alloc_stats(ctx: &GpuContext, slens: &[usize]) -> Result<(GpuTensor, Vec<GpuTensor>)> {
    if slens.is_empty() {
        return Ok((ctx.alloc_arena(&[1], "stats")?.0, Vec::new()));
    }
    ctx.alloc_arena(slens, "stats")
}

/// The GPU counts samples in u32.
fn check_counts(pass: &Pass<'_>) -> Result<()> {
    let samples = pass.start.samples + pass.order.len() as u64;
    if samples > u32::MAX as u64 {
        return Err(Error::msg(format!(
            "a pass over {samples} samples is more than the GPU's counters hold"
        )));
    }
    Ok(())
}

/// The loss of a step and the running sums it adds to.
fn record_loss(
    ctx: &GpuContext,
    (batch, classes): (usize, usize),
    x: &loss::XentBuffers<'_>,
    metrics: &GpuTensor,
    list: &mut Vec<Dispatch>,
) -> Result<()> {
    list.push(loss::softmax_xent_metrics(ctx, batch, classes, x, metrics)?);
    Ok(())
}

/// The parameters and statistics as initialised from `seed`.
fn write_init(
    ctx: &GpuContext,
    plan: &Plan,
    (params, stats): (&[GpuTensor], &[GpuTensor]),
    seed: u64,
) -> Result<()> {
    for (t, v) in params.iter().zip(&init_params(&plan.params, seed)) {
        ctx.write(t, v)?;
    }
    for (t, v) in stats.iter().zip(init_params(&plan.stats, seed)) {
        ctx.write(t, &v)?;
    }
    Ok(())
}

impl GpuGraph<'_> {
    /// The step records of `pass` (batch, step count, offset, rate, smoothing), in order; a
    /// streamed pass's offsets count from the start of each chunk of `chunk` steps.
    fn pass_records(&self, pass: &Pass<'_>, steps: usize, chunk: Option<usize>) -> Vec<StepParams> {
        let (b, n) = (self.plan.max_batch, pass.order.len());
        let train = pass.mode == Mode::Train;
        (0..steps)
            .map(|k| {
                let t = self.t + 1 + if train { k as u32 } else { 0 };
                let (lr, eps) = match train {
                    true => (pass.lrs[k], pass.label_smoothing),
                    false => (0.0, 0.0),
                };
                let offset = chunk.map_or(k, |c| k % c) * b;
                self.record((n - k * b).min(b), t, offset, lr, eps)
            })
            .collect()
    }

    /// Buffers for the predictions and probabilities of a pass that wants them.
    fn pass_outputs(&self, pass: &Pass<'_>) -> Result<(Option<GpuTensor>, Option<GpuTensor>)> {
        if !pass.want_preds {
            return Ok((None, None));
        }
        let n = pass.order.len();
        Ok((
            Some(self.ctx.alloc(n, "predictions")?),
            Some(self.ctx.alloc(n * self.plan.classes, "probabilities")?),
        ))
    }

    /// The pass's sums after `k` of its steps over `n` samples, and its predictions.
    fn finish_pass(
        &mut self,
        train: bool,
        (k, n): (usize, usize),
        (preds, probs): (&Option<GpuTensor>, &Option<GpuTensor>),
    ) -> Result<EpochStats> {
        let ctx = self.ctx;
        let m = Metrics::from_words(&ctx.read_u32(&self.metrics)?);
        // The blocking read above let any in-flight progress read complete; free its buffer.
        self.progress_read.settle(ctx)?;
        if train && !m.loss.is_finite() {
            return Err(Error::Diverged {
                step: k,
                loss: m.loss as f32,
            });
        }
        let valid = (k * self.plan.max_batch).min(n);
        let mut stats = EpochStats::new(m, k);
        if let (Some(p), Some(q)) = (preds, probs) {
            stats.preds = ctx.read_u32(p)?;
            stats.probs = ctx.read_f32(q)?;
            stats.preds.truncate(valid);
            stats.probs.truncate(valid * self.plan.classes);
        }
        Ok(stats)
    }
}

impl Backend for GpuGraph<'_> {
    fn describe(&self) -> String {
        match self.ctx.family {
            crate::runtime::KernelFamily::Auto => format!("GPU: {}", self.ctx.adapter),
            f if self.ctx.family_tuned => format!(
                "GPU: {} with the {f} kernels chosen by the tuning cache",
                self.ctx.adapter
            ),
            f => format!(
                "GPU: {} with the {f} kernels forced by {}",
                self.ctx.adapter, self.ctx.family_from
            ),
        }
    }

    fn name(&self) -> &'static str {
        "gpu"
    }

    fn batch_size(&self) -> usize {
        self.plan.max_batch
    }

    fn load(&mut self, id: usize, data: HostData) -> Result<()> {
        self.plan.check_data(&data)?;
        let ctx = self.ctx;
        let bytes = (data.images.len() as u64).next_multiple_of(4);
        let memory = Limits::gpu(ctx, 0).total;
        let why = why_stream(self.residency, bytes, ctx.max_binding_bytes(), memory);
        let set = match why {
            None => DataSet::Whole(self.whole(&data)?),
            Some(why) => {
                let to = Targets {
                    step: &self.step,
                    x: &self.input,
                    labels: &self.labels,
                };
                let shape = (self.plan.input, self.plan.max_batch, STEPS_PER_SUBMIT);
                let stream = Stream::new(ctx, data, shape, &to, self.augment.as_ref())?;
                DataSet::Streamed(stream, why)
            }
        };
        if self.data.len() <= id {
            self.data.resize_with(id + 1, || None);
        }
        self.data[id] = Some(set);
        Ok(())
    }

    fn set_augment(&mut self, augment: Option<crate::ops::augment::Augment>) {
        self.augment = augment;
    }

    fn set_residency(&mut self, residency: Residency) {
        self.residency = residency;
    }

    fn residency(&self, id: usize) -> Option<String> {
        self.data.get(id)?.as_ref().map(DataSet::held)
    }
    fn run(
        &mut self,
        pass: &Pass<'_>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<EpochStats> {
        self.with_set(pass.id, |g, data| g.run_on(data, pass, progress))
    }

    fn params(&self) -> Result<(Tensors, Tensors)> {
        Ok((
            self.ctx.read_views(&self.params_all, &self.params)?,
            self.ctx.read_views(&self.stats_all, &self.stats)?,
        ))
    }

    fn set_params(&mut self, params: &[Vec<f32>], stats: &[Vec<f32>]) -> Result<()> {
        check_layout(&self.plan, params, stats)?;
        for (t, v) in self.params.iter().zip(params) {
            self.ctx.write(t, v)?;
        }
        for (t, v) in self.stats.iter().zip(stats) {
            self.ctx.write(t, v)?;
        }
        // New weights start a new average (`--init-from`, early stopping's best weights).
        match &self.average {
            Some(a) => a.write(self.ctx, params),
            None => Ok(()),
        }
    }

    fn state(&self) -> Result<GraphState> {
        let (params, stats) = self.params()?;
        let slots = self
            .slots_all
            .iter()
            .zip(&self.slots)
            .map(|(all, views)| self.ctx.read_views(all, views))
            .collect::<Result<_>>()?;
        Ok(GraphState {
            params,
            stats,
            slots,
            t: self.t,
            average: self
                .average
                .as_ref()
                .map(|a| a.read(self.ctx))
                .transpose()?,
        })
    }

    fn set_state(&mut self, state: &GraphState) -> Result<()> {
        let averaging = self.average.is_some();
        check_state(&self.plan, (self.opt.as_ref(), averaging), state)?;
        let views = self
            .params
            .iter()
            .chain(&self.stats)
            .chain(self.slots.iter().flatten());
        let values = state
            .params
            .iter()
            .chain(&state.stats)
            .chain(state.slots.iter().flatten());
        for (t, v) in views.zip(values) {
            self.ctx.write(t, v)?;
        }
        if let (Some(a), Some(saved)) = (&self.average, &state.average) {
            a.write(self.ctx, saved)?;
        }
        self.t = state.t;
        self.ctx.wait()
    }

    fn steps_done(&self) -> u32 {
        self.t
    }

    fn swap_average(&mut self) -> Result<bool> {
        match &self.average {
            Some(a) => a.swap(self.ctx).map(|()| true),
            None => Ok(false),
        }
    }

    fn profile_step(&mut self, id: usize) -> Result<Vec<(String, f64)>> {
        if self.opt.is_none() {
            return Err(Error::msg(
                "a forward-only graph cannot profile a training step",
            ));
        }
        // The step updates optimizer moments and BN statistics even at lr 0: put them back.
        let kept = self.state()?;
        let rows = self.profile_step_impl(id);
        self.set_state(&kept)?;
        rows
    }

    fn memory(&self) -> Option<MemoryUse> {
        self.ctx.memory()
    }

    fn kernel_constants(&self) -> Option<String> {
        let c = self.ctx.constants_in_use().ok()?;
        Some(format!("{c} (from {})", self.ctx.constants_from))
    }

    fn kernel_variants(&self) -> Vec<(String, String)> {
        let all = self.ctx.compiled_kernels().unwrap_or_default();
        all.into_iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(n, c)| (n, c.to_string()))
            .collect()
    }
}

impl GpuGraph<'_> {
    /// `Backend::run` on `data` (taken out of `self.data` for the pass).
    fn run_on(
        &mut self,
        data: &mut DataSet,
        pass: &Pass<'_>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<EpochStats> {
        let ctx = self.ctx;
        let b = self.plan.max_batch;
        let (order, n) = (pass.order, pass.order.len());
        let steps = pass.steps(b);
        self.ensure_steps(steps)?;
        check_pass(pass, self.opt.is_some(), b, data.can_augment())?;
        check_order(order, data.len())?;
        check_counts(pass)?;
        if n == 0 {
            return Ok(EpochStats::new(pass.start, 0));
        }
        let train = pass.mode == Mode::Train;
        let per_submit = data.chunk_steps();
        let streamed = matches!(data, DataSet::Streamed(..));
        let records = self.pass_records(pass, steps, streamed.then_some(per_submit));
        ctx.write(&self.steps_all, &records)?;
        ctx.write(&self.metrics, &pass.start.to_words())?;
        if let DataSet::Whole(w) = data {
            ctx.write(&w.perm, order)?;
        }
        let outputs = self.pass_outputs(pass)?;
        let body: Vec<&Dispatch> = (if train { &self.train } else { &self.eval })
            .iter()
            .chain(pass.want_preds.then_some(&self.softmax))
            .collect();
        let augment = pass.augment && train;
        let mut reads = Reads {
            last: std::time::Instant::now(),
            at: 0,
        };
        // Steps submitted: the optimizer's step count follows them even when the pass fails.
        let mut submitted = 0;
        let driven = drive(steps, progress, |k| {
            let end = (k + per_submit).min(steps);
            let slot = Stream::slot_of(k / per_submit);
            let gather = match &mut *data {
                DataSet::Whole(w) => match (augment, &w.gather_augment) {
                    (true, Some(g)) => g,
                    _ => &w.gather,
                },
                DataSet::Streamed(s, _) => {
                    s.fill(ctx, slot, &order[k * b..(end * b).min(n)])?;
                    s.gather(slot, augment)
                }
            };
            let list: Vec<&Dispatch> = std::iter::once(gather)
                .chain(body.iter().copied())
                .collect();
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            self.record_steps(&mut enc, (&records, k, end), &list, &outputs);
            let progress_read = end < steps && reads.due(&self.progress_read);
            if progress_read {
                self.progress_read.record(&mut enc, &self.metrics);
                reads.at = end;
            }
            let index = ctx.queue.submit([enc.finish()]);
            if let DataSet::Streamed(s, _) = &mut *data {
                s.submitted(slot, index);
            }
            self.progress_read.submitted();
            submitted = end;
            let running = self.take_running(train, reads.at)?;
            Ok(Chunk { done: end, running })
        });
        if train {
            self.t += submitted as u32;
        }
        let k = driven?;
        self.finish_pass(train, (k, n), (&outputs.0, &outputs.1))
    }

    /// Steps `k..end` of `records` into `enc`: each step's record copied into place, then `list`,
    /// then (when the pass wants them) its predictions and probabilities copied out.
    fn record_steps(
        &self,
        enc: &mut wgpu::CommandEncoder,
        (records, k, end): (&[StepParams], usize, usize),
        list: &[&Dispatch],
        (preds, probs): &(Option<GpuTensor>, Option<GpuTensor>),
    ) {
        let b = self.plan.max_batch;
        for (s, rec) in records.iter().enumerate().take(end).skip(k) {
            enc.copy_buffer_to_buffer(
                &self.steps_all.buffer,
                self.steps_all.offset + (s * STEP_WORDS * 4) as u64,
                &self.step.buffer,
                self.step.offset,
                (STEP_WORDS * 4) as u64,
            );
            self.ctx.record(enc, list);
            let valid = rec.batch as u64;
            if let (Some(p), Some(q)) = (preds, probs) {
                enc.copy_buffer_to_buffer(
                    &self.row_pred.buffer,
                    self.row_pred.offset,
                    &p.buffer,
                    (s * b * 4) as u64,
                    valid * 4,
                );
                let c = self.plan.classes as u64;
                enc.copy_buffer_to_buffer(
                    &self.probs.buffer,
                    self.probs.offset,
                    &q.buffer,
                    (s * b) as u64 * c * 4,
                    valid * c * 4,
                );
            }
        }
    }

    /// The running sums, if a progress read has come back; a non-finite training loss among them
    /// stops the pass (`at`: the step whose end they show).
    fn take_running(&self, train: bool, at: usize) -> Result<Option<Metrics>> {
        let ctx = self.ctx;
        let running = self
            .progress_read
            .try_take(ctx)?
            .map(|w| Metrics::from_words(&w));
        ctx.check()?;
        if let (true, Some(m)) = (train, running) {
            if !m.loss.is_finite() {
                ctx.wait()?;
                self.progress_read.settle(ctx)?;
                return Err(Error::Diverged {
                    step: at,
                    loss: m.loss as f32,
                });
            }
        }
        Ok(running)
    }
}

/// When the running metrics were last sent for, and the step they will show.
struct Reads {
    last: std::time::Instant,
    at: usize,
}

impl Reads {
    /// The running metrics ride along a few times a second and are picked up once the GPU gets
    /// there: the host never waits for them.
    fn due(&mut self, read: &AsyncReadback) -> bool {
        let due = self.last.elapsed().as_millis() > 250 && !read.busy();
        if due {
            self.last = std::time::Instant::now();
        }
        due
    }
}
