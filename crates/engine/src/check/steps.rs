//! Two training steps GPU graph against CPU graph, per optimizer and kernel family, and the
//! models they train (every layer kind between them; crates/engine/tests/graph_step.rs trains them too). These
//! need the graph and the model specs, so they live here rather than in an op file.

use std::time::Instant;

use super::{compare, family_name, Row, STEP_ATOL, STEP_RTOL};
use crate::error::Result;
use crate::graph::{Backend, CpuGraph, GpuGraph, HostData, Plan};
use crate::layers::{
    AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D,
};
use crate::model::{Activation, Layer, Padding};
use crate::ops::optim::Optimizer;
use crate::ops::{Threads, Variant};
use crate::runtime::{GpuContext, KernelFamily, Spread};
use crate::util::rng::Rng;

/// Every layer kind, on 12x12x1 inputs, 5 classes (with [`every_other_layer`], the models the
/// whole-step checks and crates/engine/tests/graph_step.rs train).
pub fn every_layer() -> Vec<Layer> {
    vec![
        Layer::Conv2D(Conv2D {
            filters: 4,
            kernel: [3, 3],
            strides: [1, 1],
            padding: Padding::Same,
            activation: Activation::Relu,
        }),
        Layer::BatchNorm(BatchNorm {
            momentum: 0.99,
            epsilon: 1e-3,
        }),
        Layer::MaxPool2D(MaxPool2D {
            pool: [2, 2],
            strides: [2, 2],
            padding: Padding::Valid,
        }),
        Layer::Conv2D(Conv2D {
            filters: 6,
            kernel: [3, 3],
            strides: [2, 2],
            padding: Padding::Valid,
            activation: Activation::Linear,
        }),
        Layer::Activation(Activation::Relu),
        Layer::Dropout(Dropout { rate: 0.25 }),
        Layer::flatten(),
        Layer::Dense(Dense {
            units: 16,
            activation: Activation::Relu,
        }),
        Layer::BatchNorm(BatchNorm {
            momentum: 0.9,
            epsilon: 1e-3,
        }),
        Layer::Dropout(Dropout { rate: 0.5 }),
        Layer::Dense(Dense {
            units: 5,
            activation: Activation::Softmax,
        }),
    ]
}

/// Convolutions each followed by a max pooling (`layers::ConvMaxPool`), on 12x12x1 inputs, 5
/// classes: the first layer with a 2x2 pooling (one pass on the GPU), then 16 input channels
/// under a 3x3 kernel (a forward that splits its taps with many threads) with tanh and a pooling
/// that leaves the last row and column out.
pub fn conv_pool_pairs() -> Vec<Layer> {
    let conv = |filters, padding, activation| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: [3, 3],
            strides: [1, 1],
            padding,
            activation,
        })
    };
    let pool = || {
        Layer::MaxPool2D(MaxPool2D {
            pool: [2, 2],
            strides: [2, 2],
            padding: Padding::Valid,
        })
    };
    vec![
        conv(16, Padding::Valid, Activation::Relu),
        pool(),
        conv(8, Padding::Same, Activation::Tanh),
        pool(),
        Layer::Dropout(Dropout { rate: 0.25 }),
        Layer::flatten(),
        Layer::Dense(Dense {
            units: 5,
            activation: Activation::Softmax,
        }),
    ]
}

/// The kinds `every_layer` leaves out, with every activation, on 12x12x1 inputs, 5 classes: same
/// padded max and average pooling, and one of the global poolings.
pub fn every_other_layer(global_max: bool) -> Vec<Layer> {
    let conv = |filters, kernel, padding, activation| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: [kernel, kernel],
            strides: [1, 1],
            padding,
            activation,
        })
    };
    vec![
        conv(4, 3, Padding::Same, Activation::Tanh),
        Layer::MaxPool2D(MaxPool2D {
            pool: [3, 3],
            strides: [2, 2],
            padding: Padding::Same,
        }),
        conv(6, 3, Padding::Valid, Activation::Elu(1.0)),
        Layer::AvgPool2D(AvgPool2D {
            pool: [2, 2],
            strides: [1, 1],
            padding: Padding::Same,
        }),
        Layer::Activation(Activation::Sigmoid),
        conv(6, 1, Padding::Valid, Activation::LeakyRelu(0.1)),
        Layer::AvgPool2D(AvgPool2D {
            pool: [2, 2],
            strides: [2, 2],
            padding: Padding::Valid,
        }),
        if global_max {
            Layer::GlobalMaxPool2D(GlobalMaxPool2D)
        } else {
            Layer::GlobalAvgPool2D(GlobalAvgPool2D)
        },
        Layer::flatten(),
        Layer::Dense(Dense {
            units: 16,
            activation: Activation::Sigmoid,
        }),
        Layer::Activation(Activation::LeakyRelu(0.3)),
        Layer::Dense(Dense {
            units: 12,
            activation: Activation::Tanh,
        }),
        Layer::Activation(Activation::Elu(0.5)),
        Layer::Activation(Activation::Tanh),
        Layer::Dense(Dense {
            units: 5,
            activation: Activation::Softmax,
        }),
    ]
}

/// Two training steps of the test suite's models (every layer kind between them, 12x12x1 inputs),
/// GPU graph against CPU graph (same plan, init and dropout masks), for each optimizer: the
/// loss, parameters and batch-norm statistics.
/// Each spread of the work runs them, the adapter's own and the other (a GPU's many short
/// invocations on a CPU driver, and the other way round).
pub fn check_steps(ctx: &mut GpuContext, v: Variant, out: &mut dyn FnMut(Row)) -> Result<()> {
    let saved = (ctx.family, ctx.spread);
    ctx.family = match v {
        Variant::Tiled => KernelFamily::Tiled,
        Variant::Blocked => KernelFamily::Blocked,
    };
    let own = Threads::for_ctx(ctx);
    let mut r = Ok(());
    for threads in [own, own.other()] {
        ctx.spread = match threads {
            Threads::Few => Spread::Few,
            Threads::Many => Spread::Many,
        };
        r = r.and_then(|_| steps(ctx, (v, threads), out));
    }
    (ctx.family, ctx.spread) = saved;
    r
}

fn steps(
    ctx: &GpuContext,
    (v, threads): (Variant, Threads),
    out: &mut dyn FnMut(Row),
) -> Result<()> {
    let mut rng = Rng::new(11);
    let (n, len) = (40, 144);
    let images: Vec<u8> = (0..n * len).map(|_| rng.below(256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.below(5) as u8).collect();
    let host = || HostData::copied(&images, &labels, len);
    // Two steps, so that momentum and the moments are carried from one step to the next.
    let order: Vec<u32> = vec![3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 2, 0, 11, 22, 33];
    let models = [
        ("every layer kind", every_layer()),
        ("other kinds, global max pool", every_other_layer(true)),
        (
            "the other layer kinds, global average",
            every_other_layer(false),
        ),
        ("convolutions with their poolings", conv_pool_pairs()),
    ];
    for (model, layers) in &models {
        let momentum = Optimizer::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
        };
        for (name, opt, lr) in [
            ("sgd", Optimizer::sgd(), 0.05),
            ("sgd, momentum 0.9", momentum, 0.05),
            ("adam", Optimizer::adam(), 0.001),
            ("rmsprop", Optimizer::rmsprop(), 0.001),
        ] {
            let plan = Plan::new([12, 12, 1], layers, 8)?;
            let mut g = GpuGraph::new(ctx, plan.clone(), opt, 3)?;
            let mut c = CpuGraph::new(plan, opt, 3)?;
            g.load(0, host())?;
            c.load(0, host())?;
            let t0 = Instant::now();
            let rg = g.train_at(0, &order, lr)?;
            let (gp, gs) = g.params()?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let rc = c.train_at(0, &order, lr)?;
            let (cp, cs) = c.params()?;
            let got: Vec<f32> = std::iter::once(rg.loss)
                .chain(gp.into_iter().flatten())
                .chain(gs.into_iter().flatten())
                .collect();
            let want: Vec<f32> = std::iter::once(rc.loss)
                .chain(cp.into_iter().flatten())
                .chain(cs.into_iter().flatten())
                .collect();
            out(compare(
                &format!("training step, {name}"),
                family_name(v),
                &format!("{model}, 2 steps of 8, {}", threads.describe()),
                &got,
                &want,
                STEP_ATOL,
                STEP_RTOL,
                ms,
            ));
        }
    }
    Ok(())
}
