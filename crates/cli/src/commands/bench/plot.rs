//! The figure of `bench scale --plot FILE`: peak resident memory (left) and wall time against
//! `extract --full` (right) over the number of customers, on a logarithmic customer axis, with
//! the targets drawn as dashed lines.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use super::scale::ScaleFigures;

/// The targets of BRIEF §4 the figure shows.
const MEMORY_TARGET_MB: f64 = 300.0;
const RATIO_TARGET: f64 = 1.3;

pub(super) fn scale_svg(path: &Path, measured: &[ScaleFigures]) -> anyhow::Result<()> {
    if measured.is_empty() {
        anyhow::bail!("no sizes measured: nothing to plot");
    }
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let (left, right) = root.split_horizontally(500);
    let smallest = measured
        .iter()
        .map(|figures| figures.customers)
        .min()
        .unwrap_or(1) as f64;
    let largest = measured
        .iter()
        .map(|figures| figures.customers)
        .max()
        .unwrap_or(1) as f64;
    let x_range = (smallest / 2.0).max(1.0)..(largest * 2.0);

    let memory_top = measured
        .iter()
        .map(|figures| {
            figures
                .first_sync_peak_rss_mb
                .max(figures.full_sync_peak_rss_mb)
        })
        .fold(MEMORY_TARGET_MB, f64::max)
        * 1.15;
    let mut memory = ChartBuilder::on(&left)
        .caption("Peak resident memory", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range.clone().log_scale(), 0.0..memory_top)
        .map_err(draw_error)?;
    memory
        .configure_mesh()
        .x_desc("customers")
        .y_desc("MB")
        .draw()
        .map_err(draw_error)?;
    let series = |select: fn(&ScaleFigures) -> f64| -> Vec<(f64, f64)> {
        measured
            .iter()
            .map(|figures| (figures.customers as f64, select(figures)))
            .collect()
    };
    memory
        .draw_series(LineSeries::new(
            series(|figures| figures.first_sync_peak_rss_mb),
            BLUE.stroke_width(2),
        ))
        .map_err(draw_error)?
        .label("first sync")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    memory
        .draw_series(LineSeries::new(
            series(|figures| figures.full_sync_peak_rss_mb),
            RED.stroke_width(2),
        ))
        .map_err(draw_error)?
        .label("no-change full run")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
    memory
        .draw_series(DashedLineSeries::new(
            vec![
                (x_range.start, MEMORY_TARGET_MB),
                (x_range.end, MEMORY_TARGET_MB),
            ],
            6,
            4,
            BLACK.into(),
        ))
        .map_err(draw_error)?
        .label("target")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
    memory
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(draw_error)?;

    let ratio_top = measured
        .iter()
        .map(ScaleFigures::ratio_to_extract)
        .fold(RATIO_TARGET, f64::max)
        * 1.15;
    let mut time = ChartBuilder::on(&right)
        .caption("Full run wall time / extract --full", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range.clone().log_scale(), 0.0..ratio_top)
        .map_err(draw_error)?;
    time.configure_mesh()
        .x_desc("customers")
        .y_desc("ratio")
        .draw()
        .map_err(draw_error)?;
    time.draw_series(LineSeries::new(
        series(ScaleFigures::ratio_to_extract),
        RED.stroke_width(2),
    ))
    .map_err(draw_error)?
    .label("no-change full run")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
    time.draw_series(DashedLineSeries::new(
        vec![(x_range.start, RATIO_TARGET), (x_range.end, RATIO_TARGET)],
        6,
        4,
        BLACK.into(),
    ))
    .map_err(draw_error)?
    .label("target")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
    time.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(draw_error)?;
    root.present()
        .map_err(draw_error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {error}")
}
