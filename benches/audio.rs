//! Sound benchmarks (`--features audio`): what one 20 ms frame costs, the budget being
//! 20 ms of one core: Opus-encoding our microphone once, and receiving everyone — each
//! participant's packet through the jitter buffer and the Opus decoder into the mix.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use packspaces::audio::codec::{OpusDecoder, OpusEncoder};
use packspaces::audio::mixer::{FrameDecoder, Mixer};
use packspaces::audio::tone::Tone;
use packspaces::audio::{AudioPacket, FRAME_SAMPLES};
use std::hint::black_box;

/// `count` frames of a speech-like voice at `hz`, Opus-encoded.
fn voice(hz: f64, count: usize) -> Vec<bytes::Bytes> {
    let mut encoder = OpusEncoder::new().unwrap_or_else(|e| panic!("encoder: {e}"));
    let mut tone = Tone::speech_like(hz, 0.3);
    let mut frame = vec![0.0f32; FRAME_SAMPLES];
    (0..count)
        .map(|_| {
            tone.fill(&mut frame);
            encoder
                .encode(&frame)
                .unwrap_or_else(|e| panic!("encode: {e}"))
        })
        .collect()
}

fn bench_encode(c: &mut Criterion) {
    let mut encoder = OpusEncoder::new().unwrap_or_else(|e| panic!("encoder: {e}"));
    let mut tone = Tone::speech_like(140.0, 0.3);
    let mut frame = vec![0.0f32; FRAME_SAMPLES];
    c.bench_function("opus_encode_20ms", |b| {
        b.iter(|| {
            tone.fill(&mut frame);
            black_box(encoder.encode(black_box(&frame)).ok())
        })
    });
}

fn bench_receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("receive_and_mix_20ms");
    for people in [1usize, 4, 8] {
        let voices: Vec<Vec<bytes::Bytes>> = (0..people)
            .map(|i| voice(110.0 + 25.0 * i as f64, 100))
            .collect();
        let mut mixer = Mixer::new(Box::new(|| {
            OpusDecoder::new().map(|d| Box::new(d) as Box<dyn FrameDecoder>)
        }));
        let mut out = vec![0.0f32; FRAME_SAMPLES];
        let mut n = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(people), &people, |b, _| {
            b.iter(|| {
                for (i, frames) in voices.iter().enumerate() {
                    mixer.push(
                        &format!("peer{i}"),
                        AudioPacket {
                            ssrc: i as u32,
                            sequence: n as u16,
                            timestamp: (n * FRAME_SAMPLES) as u32,
                            payload: frames[n % frames.len()].clone(),
                        },
                    );
                }
                n += 1;
                mixer.mix(&mut out);
                black_box(out[0])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_encode, bench_receive);
criterion_main!(benches);
