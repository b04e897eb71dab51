//! PNG charts: training curves and confusion-matrix heat maps. Text is drawn
//! with the bundled DejaVu Sans font (`assets/DejaVuSans.ttf`).

use std::path::Path;
use std::sync::Once;

use image::ImageEncoder;
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::confusion::Confusion;
use crate::{EpochRecord, History};
use wgnn_engine::error::{Error, Result};
use wgnn_engine::util::fs::write_atomic;

static FONT: &[u8] = include_bytes!("../../../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

static REGISTER: Once = Once::new();

fn register_font() -> Result<()> {
    let mut ok = true;
    REGISTER.call_once(|| {
        ok = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok();
    });
    if ok {
        Ok(())
    } else {
        Err(Error::msg("bundled font assets/DejaVuSans.ttf is invalid"))
    }
}

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);

/// The drawing area every plot draws on, and what its drawing calls return.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Drawn<T = ()> = std::result::Result<T, String>;

/// A plotters call's result with its error as text (`render_png` names the file).
fn drawn<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Drawn<T> {
    r.map_err(|e| e.to_string())
}

/// Renders into an RGB buffer with `draw`, then encodes it as PNG and writes
/// it atomically to `path`.
fn render_png<F>(path: &Path, w: u32, h: u32, draw: F) -> Result<()>
where
    F: FnOnce(&Area<'_>) -> Drawn,
{
    register_font()?;
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let failed = |e: String| Error::file(path, format!("drawing failed: {e}"));
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        drawn(root.fill(&WHITE)).map_err(failed)?;
        draw(&root).map_err(failed)?;
        drawn(root.present()).map_err(failed)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&buf, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::file(path, format!("PNG encoding failed: {e}")))?;
    write_atomic(path, &png)
}

/// Value range of the finite values, padded; `(lo, hi)` fallback when none.
fn range_of(vals: &[f32], clamp01: bool, from_zero: bool) -> (f64, f64) {
    let finite: Vec<f64> = vals
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect();
    if finite.is_empty() {
        return (0.0, 1.0);
    }
    let mn = finite.iter().cloned().fold(f64::INFINITY, f64::min);
    let mx = finite.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((mx - mn) * 0.08).max(if clamp01 {
        0.005
    } else {
        0.01 * mx.abs().max(1e-3)
    });
    let mut lo = if from_zero { mn.min(0.0) } else { mn - pad };
    let mut hi = mx + pad;
    if clamp01 {
        lo = lo.max(0.0);
        hi = hi.min(1.0);
        if hi <= lo {
            lo = (hi - 0.01).max(0.0);
            hi = lo + 0.01;
        }
    }
    (lo, hi)
}

type Series = Vec<(i32, f64)>;

fn series(h: &History, f: impl Fn(&EpochRecord) -> Option<f32>) -> Series {
    h.records
        .iter()
        .filter_map(|r| {
            let v = f(r)?;
            v.is_finite().then_some((r.epoch as i32, f64::from(v)))
        })
        .collect()
}

/// Layout of one chart panel.
struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    x_range: (i32, i32),
    y_range: (f64, f64),
    percent: bool,
    /// Tick labels in scientific notation (learning rates).
    sci: bool,
    /// The legend of the first series.
    first: &'a str,
}

impl<'a> Panel<'a> {
    /// A loss panel over `values` (its y axis from zero).
    fn loss(title: &'a str, x_range: (i32, i32), values: &[f32]) -> Self {
        Panel {
            title,
            y_desc: "cross-entropy loss",
            x_range,
            y_range: range_of(values, false, true),
            percent: false,
            sci: false,
            first: "train",
        }
    }

    /// An accuracy panel over `values` (in percent, within 0 to 100%).
    fn accuracy(title: &'a str, x_range: (i32, i32), values: &[f32]) -> Self {
        Panel {
            y_desc: "accuracy",
            y_range: range_of(values, true, false),
            percent: true,
            ..Panel::loss(title, x_range, values)
        }
    }
}

type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordi32, RangedCoordf64>>;

/// A panel's chart: its title, the epoch axis, and the y axis labelled as the panel says.
fn axes<'a, 'b>(area: &'a Area<'b>, p: &Panel<'_>, caption: u32) -> Drawn<Chart<'a, 'b>> {
    let mut chart = drawn(
        ChartBuilder::on(area)
            .caption(p.title, (FAMILY, caption))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(p.x_range.0..p.x_range.1, p.y_range.0..p.y_range.1),
    )?;
    let n_epochs = (p.x_range.1 - p.x_range.0 + 1).max(1) as usize;
    let (percent, sci) = (p.percent, p.sci);
    drawn(
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(p.y_desc)
            .x_labels(n_epochs.min(12))
            .y_labels(8)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .y_label_formatter(&|v| {
                if percent {
                    format!("{:.1}%", v * 100.0)
                } else if sci {
                    format!("{v:.1e}")
                } else {
                    format!("{v:.3}")
                }
            })
            .draw(),
    )?;
    Ok(chart)
}

/// The legend box: lower right on accuracy panels, upper right elsewhere.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, percent: bool) -> Drawn {
    drawn(
        chart
            .configure_series_labels()
            .position(if percent {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 16))
            .draw(),
    )
}

fn panel(area: &Area, p: &Panel<'_>, train: &Series, val: &Series) -> Drawn {
    let (percent, first) = (p.percent, p.first);
    let mut chart = axes(area, p, 26)?;
    for (data, color, label) in [(train, TRAIN_COLOR, first), (val, VAL_COLOR, "validation")] {
        if data.is_empty() {
            continue;
        }
        drawn(chart.draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(3))))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        drawn(
            chart.draw_series(
                data.iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            ),
        )?;
    }
    legend(&mut chart, percent)
}

/// The x axis for these epochs: first to last, or one either side of a single epoch.
fn epoch_range(epochs: impl Iterator<Item = usize> + Clone) -> (i32, i32) {
    let first = epochs.clone().min().unwrap_or(1) as i32;
    let last = epochs.max().unwrap_or(1) as i32;
    if last > first {
        (first, last)
    } else {
        (first - 1, last + 1)
    }
}

/// Draws the training curves: a loss panel and an accuracy panel, each with
/// the training and (when present) validation values per epoch, and the learning rate of each
/// epoch's last step where the history has it.
pub fn curves_png(history: &History, path: &Path) -> Result<()> {
    if history.is_empty() {
        return Err(Error::file(path, "cannot plot an empty training history"));
    }
    let x_range = epoch_range(history.records.iter().map(|r| r.epoch));
    let loss = series(history, |r| Some(r.loss));
    let val_loss = series(history, |r| r.val_loss);
    let acc = series(history, |r| Some(r.accuracy));
    let val_acc = series(history, |r| r.val_accuracy);
    let all_loss: Vec<f32> = loss.iter().chain(&val_loss).map(|p| p.1 as f32).collect();
    let all_acc: Vec<f32> = acc.iter().chain(&val_acc).map(|p| p.1 as f32).collect();
    let lr = series(history, |r| r.lr);
    let all_lr: Vec<f32> = lr.iter().map(|p| p.1 as f32).collect();
    let n = if lr.is_empty() { 2 } else { 3 };
    render_png(path, 700 * n as u32, 560, |root| {
        let panels = root.split_evenly((1, n));
        panel(
            &panels[0],
            &Panel::loss("Loss", x_range, &all_loss),
            &loss,
            &val_loss,
        )?;
        panel(
            &panels[1],
            &Panel::accuracy("Accuracy", x_range, &all_acc),
            &acc,
            &val_acc,
        )?;
        if n == 3 {
            panel(
                &panels[2],
                &Panel {
                    y_desc: "learning rate",
                    sci: true,
                    first: "learning rate",
                    ..Panel::loss("Learning rate", x_range, &all_lr)
                },
                &lr,
                &Vec::new(),
            )?;
        }
        Ok(())
    })
}

/// Draws the confusion matrix as a heat map (colour = fraction of the true
/// class's samples), with the count written in each cell, true classes on the
/// vertical axis and predicted classes on the horizontal one.
pub fn confusion_png(confusion: &Confusion, path: &Path) -> Result<()> {
    confusion_png_named(confusion, &[], path)
}

/// A confusion cell's colour for the fraction of its row it holds (sqrt makes the small
/// off-diagonal errors visible), and whether its count is written in white.
fn cell_color(frac: f64) -> (RGBColor, bool) {
    let s = frac.sqrt();
    let shade = |light: f64, dark: f64| (light - s * (light - dark)) as u8;
    (
        RGBColor(shade(247.0, 8.0), shade(251.0, 48.0), shade(255.0, 107.0)),
        s > 0.6,
    )
}

/// The geometry of a confusion plot: the grid's top-left corner and one cell's side, in pixels.
#[derive(Clone, Copy)]
struct Grid {
    left: i32,
    top: i32,
    cell: i32,
    classes: usize,
}

impl Grid {
    fn side(&self) -> i32 {
        self.cell * self.classes as i32
    }
}

/// Row `i` of the matrix: each cell shaded by its share of the row, with its count when the
/// cells are big enough to hold it.
fn confusion_row(root: &Area, g: Grid, confusion: &Confusion, i: usize) -> Drawn {
    let row_total: u64 = (0..g.classes).map(|p| confusion.get(i, p)).sum();
    let c = g.cell;
    let value_font = ((c as f64) * 0.32).clamp(8.0, 18.0);
    let center = Pos::new(HPos::Center, VPos::Center);
    for j in 0..g.classes {
        let n = confusion.get(i, j);
        let frac = if row_total == 0 {
            0.0
        } else {
            n as f64 / row_total as f64
        };
        let (color, white_text) = cell_color(frac);
        let (x0, y0) = (g.left + j as i32 * c, g.top + i as i32 * c);
        drawn(root.draw(&Rectangle::new(
            [(x0, y0), (x0 + c, y0 + c)],
            color.filled(),
        )))?;
        if c >= 16 {
            let text_color = if white_text { WHITE } else { BLACK };
            let style = TextStyle::from((FAMILY, value_font).into_font())
                .color(&text_color)
                .pos(center);
            drawn(root.draw(&Text::new(n.to_string(), (x0 + c / 2, y0 + c / 2), style)))?;
        }
    }
    Ok(())
}

/// Class `i`'s labels: its name left of its row, its number under its column.
fn confusion_labels(root: &Area, g: Grid, i: usize, name: String) -> Drawn {
    let (l, t, c) = (g.left, g.top, g.cell);
    let style = TextStyle::from((FAMILY, 17).into_font());
    let right = Pos::new(HPos::Right, VPos::Center);
    let center = Pos::new(HPos::Center, VPos::Center);
    let at_row = (l - 8, t + i as i32 * c + c / 2);
    drawn(root.draw(&Text::new(name, at_row, style.clone().pos(right))))?;
    let at_column = (l + i as i32 * c + c / 2, t + g.side() + 16);
    drawn(root.draw(&Text::new(i.to_string(), at_column, style.pos(center))))
}

/// The frame around the grid and the two axis names.
fn confusion_frame(root: &Area, g: Grid) -> Drawn {
    let (l, t, side) = (g.left, g.top, g.side());
    drawn(root.draw(&Rectangle::new(
        [(l, t), (l + side, t + side)],
        BLACK.stroke_width(1),
    )))?;
    let center = Pos::new(HPos::Center, VPos::Center);
    let desc_style = TextStyle::from((FAMILY, 18).into_font()).pos(center);
    let at = (l + side / 2, t + side + 50);
    drawn(root.draw(&Text::new("predicted class", at, desc_style.clone())))?;
    let vertical = desc_style.transform(FontTransform::Rotate270);
    drawn(root.draw(&Text::new("true class", (30, t + side / 2), vertical)))
}

/// `confusion_png` with the rows named by class ("3 Dress") where `names` say more than the
/// class number; the columns keep the numbers.
pub fn confusion_png_named(confusion: &Confusion, names: &[String], path: &Path) -> Result<()> {
    let k = confusion.classes;
    if k == 0 {
        return Err(Error::file(
            path,
            "cannot plot a confusion matrix with no classes",
        ));
    }
    let cell = (640 / k as u32).clamp(4, 64);
    let row_label = |i: usize| super::confusion::class_label(names, i);
    let widest = (0..k)
        .map(|i| row_label(i).chars().count())
        .max()
        .unwrap_or(1) as u32;
    let left = 90u32.max(60 + 10 * widest);
    let (top, right, bottom) = (70u32, 30u32, 80u32);
    let g = Grid {
        left: left as i32,
        top: top as i32,
        cell: cell as i32,
        classes: k,
    };
    let (w, h) = (
        left + cell * k as u32 + right,
        top + cell * k as u32 + bottom,
    );
    render_png(path, w, h, |root| {
        let title = format!(
            "Confusion matrix (accuracy {:.2}%, {} samples)",
            100.0 * confusion.accuracy(),
            confusion.total()
        );
        let center = Pos::new(HPos::Center, VPos::Center);
        let title_style = TextStyle::from((FAMILY, 22).into_font()).pos(center);
        drawn(root.draw(&Text::new(title, ((w / 2) as i32, 28), title_style)))?;
        // Small cells label every few classes, so the labels do not overlap.
        let label_every = (18 / g.cell).max(0) as usize + 1;
        for i in 0..k {
            confusion_row(root, g, confusion, i)?;
            if i % label_every == 0 {
                confusion_labels(root, g, i, row_label(i))?;
            }
        }
        confusion_frame(root, g)
    })
}

/// The line colour of each run in [`compare_png`] (matplotlib's tab10, with its grey swapped for
/// a dark red so that no run's colour is one that anti-aliased text also makes).
pub const RUN_COLORS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (128, 0, 38),
    (188, 189, 34),
    (23, 190, 207),
];

/// One run's learning curves for [`compare_png`], named in the legend by `label`.
pub struct RunCurves<'a> {
    pub label: &'a str,
    pub history: &'a History,
}

/// One panel of [`compare_png`]: every run's train (dashed) and validation (solid) series.
fn compare_panel(area: &Area, p: &Panel<'_>, runs: &[(&str, RGBColor, Series, Series)]) -> Drawn {
    let mut chart = axes(area, p, 24)?;
    let percent = p.percent;
    for (label, color, train, val) in runs {
        let (label, color) = (label.to_string(), *color);
        // Dashes and hollow markers for train, so a one-epoch run still shows a point.
        let train_line = drawn(chart.draw_series(DashedLineSeries::new(
            train.iter().copied(),
            10,
            7,
            color.stroke_width(2),
        )))?;
        if val.is_empty() {
            train_line.label(label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 9, y)], color.stroke_width(2))
            });
        }
        drawn(
            chart.draw_series(
                train
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.stroke_width(2))),
            ),
        )?;
        if !val.is_empty() {
            drawn(chart.draw_series(LineSeries::new(val.iter().copied(), color.stroke_width(3))))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
            drawn(
                chart.draw_series(
                    val.iter()
                        .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
                ),
            )?;
        }
    }
    legend(&mut chart, percent)
}

/// The runs [`compare_png`] can draw: at least one, at most one per colour, none empty.
fn check_runs(runs: &[RunCurves<'_>], path: &Path) -> Result<()> {
    if runs.is_empty() {
        return Err(Error::file(path, "no runs to plot"));
    }
    if runs.len() > RUN_COLORS.len() {
        return Err(Error::file(
            path,
            format!(
                "can draw at most {} runs in one plot (one colour each), got {}",
                RUN_COLORS.len(),
                runs.len()
            ),
        ));
    }
    match runs.iter().find(|r| r.history.is_empty()) {
        Some(r) => Err(Error::file(
            path,
            format!("the run `{}` has an empty training history", r.label),
        )),
        None => Ok(()),
    }
}

/// Draws several runs' learning curves overlaid: a loss panel and an accuracy panel, one colour
/// per run ([`RUN_COLORS`]), validation solid and train dashed; a run without validation shows
/// only its train curves. At most `RUN_COLORS.len()` runs, so that every colour names one run.
pub fn compare_png(runs: &[RunCurves<'_>], path: &Path) -> Result<()> {
    check_runs(runs, path)?;
    let x_range = epoch_range(
        runs.iter()
            .flat_map(|r| r.history.records.iter().map(|e| e.epoch)),
    );
    let with = |train: fn(&EpochRecord) -> Option<f32>, val: fn(&EpochRecord) -> Option<f32>| {
        runs.iter()
            .zip(RUN_COLORS)
            .map(|(r, (cr, cg, cb))| {
                (
                    r.label,
                    RGBColor(cr, cg, cb),
                    series(r.history, train),
                    series(r.history, val),
                )
            })
            .collect::<Vec<_>>()
    };
    let loss = with(|r| Some(r.loss), |r| r.val_loss);
    let acc = with(|r| Some(r.accuracy), |r| r.val_accuracy);
    let values = |s: &[(&str, RGBColor, Series, Series)]| -> Vec<f32> {
        s.iter()
            .flat_map(|(_, _, t, v)| t.iter().chain(v).map(|p| p.1 as f32))
            .collect()
    };
    render_png(path, 1400, 560, |root| {
        let panels = root.split_evenly((1, 2));
        compare_panel(
            &panels[0],
            &Panel::loss(
                "Loss (solid: validation, dashed: train)",
                x_range,
                &values(&loss),
            ),
            &loss,
        )?;
        compare_panel(
            &panels[1],
            &Panel::accuracy(
                "Accuracy (solid: validation, dashed: train)",
                x_range,
                &values(&acc),
            ),
            &acc,
        )
    })
}
