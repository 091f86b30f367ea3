//! Opus at 48 kHz mono, 20 ms frames (libopus through the `opus` crate). Received packets
//! are untrusted: decoding runs inside [`contain`], and a decoder that failed is replaced,
//! so a bad packet costs at most its own frame.

use bytes::Bytes;

use super::mixer::FrameDecoder;
use super::{FRAME_SAMPLES, SAMPLE_RATE};
use crate::contain::contain;

/// Our outgoing bit rate: plenty for wideband speech.
const BITRATE: i32 = 32_000;
/// The largest packet Opus makes for one frame (RFC 6716 allows 1275 bytes).
const MAX_PACKET: usize = 1275;
/// The longest an Opus packet may play: 120 ms.
const MAX_PACKET_SAMPLES: usize = 5760;

/// Encodes our 20 ms frames.
pub struct OpusEncoder(opus::Encoder);

impl OpusEncoder {
    pub fn new() -> Result<OpusEncoder, String> {
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(|e| format!("cannot create an Opus encoder: {e}"))?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(BITRATE))
            .map_err(|e| format!("cannot set the Opus bit rate: {e}"))?;
        // Our receivers (and browsers) ask for in-band FEC: let the encoder add it.
        let _ = encoder.set_inband_fec(true);
        let _ = encoder.set_packet_loss_perc(5);
        Ok(OpusEncoder(encoder))
    }

    /// Encodes one 20 ms frame ([`FRAME_SAMPLES`] samples, ±1.0 full scale).
    pub fn encode(&mut self, frame: &[f32]) -> Result<Bytes, String> {
        if frame.len() != FRAME_SAMPLES {
            return Err(format!(
                "a frame has {FRAME_SAMPLES} samples, not {}",
                frame.len()
            ));
        }
        let mut packet = vec![0; MAX_PACKET];
        let n = self
            .0
            .encode_float(frame, &mut packet)
            .map_err(|e| e.to_string())?;
        packet.truncate(n);
        Ok(Bytes::from(packet))
    }
}

/// Decodes one participant's packets (any Opus mode, mono or stereo, down-mixed to mono).
pub struct OpusDecoder {
    decoder: Option<opus::Decoder>,
    buffer: Vec<f32>,
}

impl OpusDecoder {
    pub fn new() -> Result<OpusDecoder, String> {
        Ok(OpusDecoder {
            decoder: Some(Self::fresh()?),
            buffer: vec![0.0; MAX_PACKET_SAMPLES],
        })
    }

    fn fresh() -> Result<opus::Decoder, String> {
        opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)
            .map_err(|e| format!("cannot create an Opus decoder: {e}"))
    }

    /// Runs libopus on `packet` (empty: conceal a loss) into the first `samples` of the
    /// buffer; returns how many samples it made.
    fn run(&mut self, packet: &[u8], samples: usize) -> Result<usize, String> {
        let Some(decoder) = self.decoder.as_mut() else {
            self.decoder = Some(Self::fresh()?);
            return Err("the decoder was reset".into());
        };
        let buffer = &mut self.buffer[..samples.min(MAX_PACKET_SAMPLES)];
        match contain(|| decoder.decode_float(packet, buffer, false)) {
            Ok(Ok(n)) => Ok(n.min(buffer.len())),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => {
                // Whatever it touched is suspect: start again on the next packet.
                self.decoder = None;
                Err(format!("the Opus decoder panicked: {panic}"))
            }
        }
    }
}

impl FrameDecoder for OpusDecoder {
    fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
        if packet.is_empty() {
            return Err("an empty packet".into());
        }
        let n = self.run(packet, MAX_PACKET_SAMPLES)?;
        out.extend_from_slice(&self.buffer[..n]);
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<f32>) {
        // Opus conceals in steps of 2.5 ms.
        let samples = (samples / 120 * 120).clamp(120, MAX_PACKET_SAMPLES);
        match self.run(&[], samples) {
            Ok(n) => out.extend_from_slice(&self.buffer[..n]),
            Err(_) => out.resize(out.len() + samples, 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::audio::level::{dominant_frequency, rms};
    use crate::audio::tone::Tone;

    /// Encodes `frames` of a 440 Hz tone; returns the packets and the original samples.
    fn encoded_tone(frames: usize) -> (Vec<Bytes>, Vec<f32>) {
        let mut tone = Tone::sine(440.0, 0.3);
        let mut encoder = OpusEncoder::new().unwrap();
        let mut original = Vec::new();
        let packets = (0..frames)
            .map(|_| {
                let mut frame = vec![0.0; FRAME_SAMPLES];
                tone.fill(&mut frame);
                original.extend_from_slice(&frame);
                encoder.encode(&frame).unwrap()
            })
            .collect();
        (packets, original)
    }

    #[test]
    fn a_tone_keeps_its_level_and_frequency_through_opus() {
        let (packets, original) = encoded_tone(50);
        assert!(packets.iter().all(|p| !p.is_empty() && p.len() < 200));
        let mut decoder = OpusDecoder::new().unwrap();
        let mut decoded = Vec::new();
        for p in &packets {
            decoder.decode(p, &mut decoded).unwrap();
        }
        assert_eq!(decoded.len(), original.len());
        // Past the codec's start-up.
        let tail = &decoded[9600..];
        let (sent, got) = (rms(&original[9600..]), rms(tail));
        let db = 20.0 * (got / sent).log10();
        assert!(db.abs() < 1.0, "level changed by {db:.2} dB");
        let hz = dominant_frequency(tail, SAMPLE_RATE);
        assert!((hz - 440.0).abs() < 3.0, "{hz} Hz");
    }

    #[test]
    fn a_lost_packet_is_concealed_with_sound_not_silence() {
        let (packets, _) = encoded_tone(20);
        let mut decoder = OpusDecoder::new().unwrap();
        let mut out = Vec::new();
        for p in &packets[..10] {
            decoder.decode(p, &mut out).unwrap();
        }
        let mut concealed = Vec::new();
        decoder.conceal(FRAME_SAMPLES, &mut concealed);
        assert_eq!(concealed.len(), FRAME_SAMPLES);
        assert!(
            rms(&concealed) > 0.05,
            "concealment rms {}",
            rms(&concealed)
        );
        // And decoding goes on.
        decoder.decode(&packets[11], &mut out).unwrap();
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut decoder = OpusDecoder::new().unwrap();
        let mut out = Vec::new();
        assert!(decoder.decode(&[], &mut out).is_err());
        let mut seed = 1u32;
        for len in 1..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = decoder.decode(&junk, &mut out);
        }
        let (packets, _) = encoded_tone(3);
        decoder.decode(&packets[0], &mut out).unwrap();
        let mut encoder = OpusEncoder::new().unwrap();
        assert!(encoder.encode(&[0.0; 10]).is_err());
    }
}
