//! Renderer benchmarks: a 640x480 I420 frame to 80x24 and 160x48 cells in every colour
//! mode, scaling alone and scaling plus the diffing ANSI painter under full motion.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use packspaces::render::{AnsiPainter, ColorMode, I420Frame, Rgb, cells_from_i420};
use std::hint::black_box;

/// A detailed camera-like picture: gradients, stripes and deterministic noise, shifted by
/// `shift` pixels so that successive frames differ everywhere.
fn detailed_frame(shift: u32) -> I420Frame {
    let (w, h) = (640u32, 480u32);
    let mut seed = 0x9e37_79b9u32.wrapping_add(shift);
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed % 9) as i32 - 4;
            let xs = x + shift;
            let stripe = if (xs / 24 + y / 32).is_multiple_of(2) {
                40
            } else {
                0
            };
            let c = |v: i32| (v + noise).clamp(0, 255) as u8;
            pixels.push(Rgb::new(
                c((xs * 255 / w) as i32 % 256 - stripe),
                c((y * 255 / h) as i32 + stripe / 2),
                c(((xs + y) * 128 / (w + h)) as i32 + 60),
            ));
        }
    }
    I420Frame::from_rgb(w, h, &pixels).unwrap_or_else(|e| panic!("test frame: {e}"))
}

fn bench_render(c: &mut Criterion) {
    let frames = [detailed_frame(0), detailed_frame(7)];
    let mut group = c.benchmark_group("scale_640x480");
    for (cols, rows) in [(80u16, 24u16), (160, 48)] {
        group.throughput(Throughput::Elements(u64::from(cols) * u64::from(rows)));
        group.bench_function(BenchmarkId::from_parameter(format!("{cols}x{rows}")), |b| {
            b.iter(|| cells_from_i420(black_box(&frames[0]), cols, rows))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("render_640x480");
    for mode in [
        ColorMode::TrueColor,
        ColorMode::Palette256,
        ColorMode::Ansi16,
    ] {
        for (cols, rows) in [(80u16, 24u16), (160, 48)] {
            group.throughput(Throughput::Elements(u64::from(cols) * u64::from(rows)));
            let id = BenchmarkId::new(format!("{mode:?}"), format!("{cols}x{rows}"));
            group.bench_function(id, |b| {
                let mut painter = AnsiPainter::new(mode);
                let mut out = Vec::with_capacity(1 << 20);
                let mut i = 0;
                b.iter(|| {
                    // Alternate two different frames so every paint has real changes.
                    i ^= 1;
                    let (grid, fit) = cells_from_i420(&frames[i], cols, rows);
                    painter.place(fit.col, fit.row, grid.cols(), grid.rows());
                    out.clear();
                    painter.paint(&grid, &mut out);
                    black_box(out.len())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
