//! Garbage RTP cannot take the video pipeline down: every packet a hostile or broken
//! peer may send (random payloads, truncated and overlong H.264 aggregation and
//! fragmentation units, VP8 descriptors that promise more than they carry, wild sequence
//! numbers and timestamps) goes through the same depacketizer and decoder a call uses, and
//! afterwards a good key frame still decodes to the picture that was sent.

use std::time::{Duration, Instant};

use bytes::Bytes;
use packspaces::call::VideoCodec;
use packspaces::call::receive::VideoReceiver;
use packspaces::media::h264::H264Encoder;
use packspaces::media::testcard::{PALETTES, TestCard};
use packspaces::media::vp8enc::Vp8IntraEncoder;
use packspaces::render::I420Frame;
use rtc::rtp::packetizer::Packetizer as _;
use rtc::rtp::{Header, Packet};

const PAYLOAD_TYPE: u8 = 96;
const SSRC: u32 = 0x1234_5678;

/// xorshift64*: reproducible garbage without a dependency.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn packet(seq: u16, timestamp: u32, marker: bool, payload: Vec<u8>) -> Packet {
    Packet {
        header: Header {
            version: 2,
            marker,
            payload_type: PAYLOAD_TYPE,
            sequence_number: seq,
            timestamp,
            ssrc: SSRC,
            ..Header::default()
        },
        payload: Bytes::from(payload),
    }
}

/// Hand-made payloads that lie about their own structure, per codec.
fn crafted(codec: VideoCodec) -> Vec<Vec<u8>> {
    match codec {
        VideoCodec::H264 => vec![
            vec![],
            vec![0x00],
            // STAP-A whose first unit claims 65535 bytes.
            vec![0x18, 0xff, 0xff, 0x67],
            // STAP-A with a zero-length unit, then a truncated length.
            vec![0x18, 0x00, 0x00, 0x00],
            // FU-A with only its indicator; with start and end both set; a middle part
            // with no start; an end with no start.
            vec![0x1c],
            vec![0x1c, 0xc5, 0xde, 0xad],
            vec![0x1c, 0x05, 0xbe, 0xef],
            vec![0x1c, 0x45, 0x00],
            // FU-B, MTAP and reserved NAL types.
            vec![0x1d, 0x85, 0, 0],
            vec![0x1a, 0, 0, 0, 0],
            vec![0x1f, 1, 2, 3],
            // An SPS and PPS of nonsense, then an IDR slice of nonsense.
            vec![0x67, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x68, 0xff, 0xff],
            vec![0x65, 0x88, 0x84, 0x00, 0xff, 0xff, 0xff],
            // A start code inside a payload.
            vec![0x00, 0x00, 0x00, 0x01, 0x65, 0x00],
        ],
        VideoCodec::Vp8 => vec![
            vec![],
            // Descriptor bits promising extensions that are not there.
            vec![0x80],
            vec![0x90],
            vec![0x90, 0xf0],
            vec![0x90, 0x80, 0x80],
            vec![0x90, 0x80, 0x80, 0xff],
            // A start-of-partition key frame header announcing 16383x16383.
            vec![
                0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f,
            ],
            // A key frame header announcing 0x0, and one cut after its start code.
            vec![0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0],
            vec![0x10, 0x50, 0x00, 0x00, 0x9d, 0x01, 0x2a],
            // An inter frame before any key frame.
            vec![0x10, 0x01, 0x00, 0x00, 0xaa, 0xbb],
        ],
    }
}

/// A key frame of the test card, packetized the way a call sends it.
fn key_frame_packets(codec: VideoCodec, card: &I420Frame, seq: u16, timestamp: u32) -> Vec<Packet> {
    let data = match codec {
        VideoCodec::H264 => {
            let mut encoder = H264Encoder::new(card.width(), card.height(), 15.0, 500_000).unwrap();
            encoder.encode(card, true).unwrap()
        }
        VideoCodec::Vp8 => Vp8IntraEncoder::new(60.0).encode(card).unwrap(),
    };
    let payloader = codec.rtp_codec().payloader().unwrap();
    let mut packetizer = rtc::rtp::packetizer::new_packetizer(
        Instant::now(),
        1200,
        PAYLOAD_TYPE,
        SSRC,
        payloader,
        Box::new(rtc::rtp::sequence::new_fixed_sequencer(seq)),
        90_000,
    );
    packetizer
        .packetize(Instant::now(), &Bytes::from(data), 6000)
        .unwrap()
        .into_iter()
        .map(|mut p| {
            p.header.timestamp = timestamp;
            p
        })
        .collect()
}

fn survives_garbage_then_decodes_a_good_frame(codec: VideoCodec) {
    let palette = PALETTES[1];
    let card = TestCard::new(320, 240, "good", palette)
        .frame(Duration::ZERO)
        .unwrap();
    let mut receiver = VideoReceiver::new(codec);
    let mut garbage = Garbage(0x9e37_79b9_7f4a_7c15);
    let (mut seq, mut timestamp) = (1000u16, 90_000u32);
    let mut errors = 0usize;

    // Hand-made lies, each as a whole frame and as a frame's middle.
    for payload in crafted(codec) {
        for marker in [true, false] {
            seq = seq.wrapping_add(1);
            timestamp = timestamp.wrapping_add(3000);
            let outcomes = receiver.push(packet(seq, timestamp, marker, payload.clone()));
            assert!(
                outcomes.iter().all(|o| o.is_err()),
                "garbage decoded to a picture"
            );
            errors += outcomes.len();
        }
    }
    // Random payloads, in order and out of order, with jumps in time and sequence.
    for i in 0..1500u32 {
        let r = garbage.next();
        seq = match r % 10 {
            0 => garbage.next() as u16,
            1 => seq.wrapping_sub(3),
            _ => seq.wrapping_add(1),
        };
        timestamp = match (r >> 8) % 10 {
            0 => garbage.next() as u32,
            1..=4 => timestamp,
            _ => timestamp.wrapping_add(3000),
        };
        let mut payload = garbage.bytes(1400);
        // Half of them start like a real unit of the codec, to get past the first byte.
        if i % 2 == 0 && !payload.is_empty() {
            payload[0] = match codec {
                VideoCodec::H264 => [0x18, 0x1c, 0x65, 0x67, 0x41][(r >> 16) as usize % 5],
                VideoCodec::Vp8 => [0x10, 0x90, 0x00][(r >> 16) as usize % 3],
            };
        }
        errors += receiver
            .push(packet(seq, timestamp, (r >> 24) & 1 == 1, payload))
            .iter()
            .filter(|o| o.is_err())
            .count();
    }
    assert!(errors > 0, "the garbage was reported as errors");

    // Then a peer that behaves: two key frames (the second pushes the first out of the
    // reorder buffer), and the picture must be the card.
    let mut pictures = Vec::new();
    for _ in 0..2 {
        timestamp = timestamp.wrapping_add(900_000);
        let packets = key_frame_packets(codec, &card, seq.wrapping_add(100), timestamp);
        seq = seq.wrapping_add(100 + packets.len() as u16);
        for p in packets {
            pictures.extend(receiver.push(p).into_iter().filter_map(Result::ok));
        }
    }
    let picture = pictures
        .first()
        .unwrap_or_else(|| panic!("{codec:?}: no good frame decoded after the garbage"));
    assert_eq!((picture.width(), picture.height()), (320, 240));
    // Where the card shows its background (as the browser tests look), away from its text.
    let got = picture.pixel(16, 72);
    let want = palette.background;
    assert!(
        got.r.abs_diff(want.r) < 24 && got.g.abs_diff(want.g) < 24 && got.b.abs_diff(want.b) < 24,
        "{codec:?}: decoded background {got:?}, sent {want:?}"
    );
}

#[test]
fn h264_garbage_is_dropped_and_a_good_frame_still_decodes() {
    survives_garbage_then_decodes_a_good_frame(VideoCodec::H264);
}

#[test]
fn vp8_garbage_is_dropped_and_a_good_frame_still_decodes() {
    survives_garbage_then_decodes_a_good_frame(VideoCodec::Vp8);
}
