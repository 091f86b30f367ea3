//! RTP packets of one video stream → whole frames, in order, through a small reorder
//! window. webrtc-rs's `SampleBuilder` keeps a slot for each of the 65536 sequence numbers
//! and writes them all when it starts: about 15 MB resident per incoming stream, 240 MB
//! in a class of 16 (measured). This keeps [`WINDOW`] slots, a few hundred KB at most.
//!
//! A frame is a run of consecutive packets with one timestamp, from a partition head to a
//! partition tail (the marker bit). A missing packet is waited for up to [`MAX_WAIT`]
//! (a NACK may bring it back); then the frame it broke is dropped and the next frame
//! comes out with an error before it, so that the caller asks for a keyframe. Packets
//! without payload (padding a sender adds to probe the link) are passed over, and so is a
//! hole between two VP8 frames whose picture ids follow on: it held only padding, which a
//! sender never resends (see [`FrameAssembler::skip_padding_hole`]).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::Packet;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;

use super::codecs::VideoCodec;
use crate::contain::contain;
use crate::media::annexb;

/// Packets the window holds: more than the largest keyframe a browser sends (a 1080p
/// keyframe is a few hundred packets).
pub const WINDOW: u16 = 1024;
/// How long a missing packet is waited for.
pub const MAX_WAIT: Duration = Duration::from_millis(500);

/// Assembles one stream's frames.
pub struct FrameAssembler {
    codec: VideoCodec,
    /// Packet `seq` sits at `seq % WINDOW`.
    slots: Vec<Option<Packet>>,
    /// The first sequence number not yet taken out; `None` before the first packet.
    next: Option<u16>,
    /// Since when the frame at `next` has been waiting for a missing packet.
    waiting_since: Option<Instant>,
    /// Packets given up on since the last frame came out.
    lost: u32,
    /// The VP8 picture id of the last frame taken out, and its modulus (2^7 or 2^15).
    last_picture: Option<(u16, u16)>,
}

impl FrameAssembler {
    pub fn new(codec: VideoCodec) -> Self {
        Self {
            codec,
            slots: (0..WINDOW).map(|_| None).collect(),
            next: None,
            waiting_since: None,
            lost: 0,
            last_picture: None,
        }
    }

    fn slot(&self, seq: u16) -> Option<&Packet> {
        self.slots[usize::from(seq % WINDOW)].as_ref()
    }

    fn take(&mut self, seq: u16) -> Option<Packet> {
        self.slots[usize::from(seq % WINDOW)].take()
    }

    /// Adds one packet at `now`; returns the frames it completed, in order, each after an
    /// error if packets were lost before it.
    pub fn push(&mut self, packet: Packet, now: Instant) -> Vec<Result<Bytes, String>> {
        let mut out = Vec::new();
        let seq = packet.header.sequence_number;
        let next = *self.next.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next);
        if (4 * WINDOW..=u16::MAX - WINDOW).contains(&ahead) {
            // Far ahead or far behind: a restarted (or hostile) stream. Start afresh.
            self.slots.iter_mut().for_each(|s| *s = None);
            self.next = Some(seq);
            self.waiting_since = None;
            out.push(Err(format!(
                "sequence jumped by {}",
                seq.wrapping_sub(next) as i16
            )));
        } else if ahead > u16::MAX - WINDOW {
            // Behind the window: late or a duplicate.
            return out;
        } else if ahead >= WINDOW {
            // Past the window's end: what is still missing at its start is lost.
            self.give_up_before(seq.wrapping_sub(WINDOW - 1));
        }
        self.slots[usize::from(seq % WINDOW)] = Some(packet);
        self.drain(now, &mut out);
        out
    }

    /// Drops everything before `seq`, counting what never came.
    fn give_up_before(&mut self, seq: u16) {
        self.lost += self.drop_before(seq);
    }

    /// Drops everything before `seq` and moves the window's start there; returns how many
    /// of those packets never came.
    fn drop_before(&mut self, seq: u16) -> u32 {
        let mut missing = 0;
        let Some(mut next) = self.next else {
            return missing;
        };
        while next != seq {
            if self.take(next).is_none() {
                missing += 1;
            }
            next = next.wrapping_add(1);
        }
        self.next = Some(seq);
        self.waiting_since = None;
        missing
    }

    /// Takes out every frame that is complete at the window's start.
    fn drain(&mut self, now: Instant, out: &mut Vec<Result<Bytes, String>>) {
        while let Some(next) = self.next {
            let Some(first) = self.slot(next) else {
                if self.skip_padding_hole(next) {
                    continue;
                }
                if !self.wait_or_skip(next, now) {
                    return;
                }
                continue;
            };
            if first.payload.is_empty() {
                self.take(next);
                self.next = Some(next.wrapping_add(1));
                continue;
            }
            let timestamp = first.header.timestamp;
            if !self.depacketizer().is_partition_head(&first.payload) {
                // The middle of a frame whose start we never got: worthless.
                self.lost += 1;
                self.skip_frame(next, timestamp);
                continue;
            }
            let picture = self.picture_id(&first.payload);
            match self.frame_end(next, timestamp) {
                FrameEnd::Complete(end) => {
                    self.waiting_since = None;
                    self.last_picture = picture;
                    if self.lost > 0 {
                        out.push(Err(format!("{} packets lost", self.lost)));
                        self.lost = 0;
                    }
                    out.push(self.take_frame(next, end));
                }
                FrameEnd::Missing(at) => {
                    if !self.wait_or_skip(at, now) {
                        return;
                    }
                }
            }
        }
    }

    /// A hole at `missing`, right after a whole frame, that held no video: the first packet
    /// with a payload after it starts the frame whose VP8 picture id follows the last one
    /// taken out. libwebrtc senders (Chromium, Firefox) probe their link with padding on the
    /// media stream itself when no retransmission stream is negotiated, hundreds of packets
    /// a second, and never resend a lost one: waiting for it froze the picture for
    /// `MAX_WAIT` and calling it a loss sent us to the next keyframe (Firefox at 5 % loss:
    /// frozen for 2-9 s). Passes over the hole and returns true, or false to wait.
    fn skip_padding_hole(&mut self, missing: u16) -> bool {
        let Some((last, modulus)) = self.last_picture else {
            return false;
        };
        let Some((resume, first)) = (1..WINDOW)
            .map(|i| missing.wrapping_add(i))
            .find_map(|seq| Some((seq, self.slot(seq)?)).filter(|(_, p)| !p.payload.is_empty()))
        else {
            return false;
        };
        let follows_on = self.depacketizer().is_partition_head(&first.payload)
            && self.picture_id(&first.payload) == Some(((last + 1) % modulus, modulus));
        if !follows_on {
            return false;
        }
        // Nothing of the picture was in the hole: not a loss.
        self.drop_before(resume);
        true
    }

    /// The VP8 picture id a frame's first packet carries, with its modulus (RFC 7741 4.2:
    /// X, then I, then M for the 15-bit form); `None` for H.264 or a descriptor without one.
    fn picture_id(&self, payload: &[u8]) -> Option<(u16, u16)> {
        if self.codec != VideoCodec::Vp8 {
            return None;
        }
        let (&descriptor, rest) = payload.split_first()?;
        if descriptor & 0x80 == 0 {
            return None;
        }
        let (&extensions, rest) = rest.split_first()?;
        if extensions & 0x80 == 0 {
            return None;
        }
        match rest {
            [high, low, ..] if high & 0x80 != 0 => {
                Some((u16::from(high & 0x7f) << 8 | u16::from(*low), 1 << 15))
            }
            [short, ..] if short & 0x80 == 0 => Some((u16::from(*short), 1 << 7)),
            _ => None,
        }
    }

    /// A packet at `missing` holds up the frame at the window's start: true if it was given
    /// up on (and the frame dropped), false to keep waiting.
    fn wait_or_skip(&mut self, missing: u16, now: Instant) -> bool {
        let Some(next) = self.next else { return false };
        // Nothing after it: the frame is still arriving, not broken.
        if !(1..WINDOW).any(|i| self.slot(missing.wrapping_add(i)).is_some()) {
            self.waiting_since = None;
            return false;
        }
        // A whole keyframe after the hole makes everything before it needless.
        if let Some(keyframe) = self.keyframe_after(missing) {
            self.give_up_before(keyframe);
            return true;
        }
        let since = *self.waiting_since.get_or_insert(now);
        if now.saturating_duration_since(since) < MAX_WAIT {
            return false;
        }
        // Give up on the hole, the whole run of missing packets at once (an outage leaves
        // hundreds: one at a time, MAX_WAIT each, the picture froze for minutes), and on
        // the rest of the frame it broke.
        let timestamp = self.slot(next).map(|p| p.header.timestamp);
        let resume = (1..WINDOW)
            .map(|i| missing.wrapping_add(i))
            .find(|seq| self.slot(*seq).is_some())
            .unwrap_or(missing.wrapping_add(1));
        self.give_up_before(resume);
        if let Some(timestamp) = timestamp {
            self.skip_frame(resume, timestamp);
        }
        true
    }

    /// The first packet of a complete keyframe after `missing`, if the window holds one
    /// (looking at the first few frames there only: a hole is checked on every packet).
    fn keyframe_after(&self, missing: u16) -> Option<u16> {
        const FRAMES_LOOKED_AT: usize = 8;
        let mut looked_at = 0;
        let mut previous: Option<u32> = None;
        for i in 1..WINDOW {
            let seq = missing.wrapping_add(i);
            let Some(packet) = self.slot(seq) else {
                previous = None;
                continue;
            };
            let starts = previous != Some(packet.header.timestamp)
                && !packet.payload.is_empty()
                && self.depacketizer().is_partition_head(&packet.payload);
            previous = Some(packet.header.timestamp);
            if !starts {
                continue;
            }
            if matches!(
                self.frame_end(seq, packet.header.timestamp),
                FrameEnd::Complete(_)
            ) && self.starts_keyframe(&packet.payload)
            {
                return Some(seq);
            }
            looked_at += 1;
            if looked_at == FRAMES_LOOKED_AT {
                return None;
            }
        }
        None
    }

    /// Whether a frame whose first packet carries `payload` is a keyframe, as far as that
    /// packet tells: an H.264 frame may open with its sequence parameter set and carry the
    /// IDR slice only in later packets.
    fn starts_keyframe(&self, payload: &Bytes) -> bool {
        let mut depacketizer = self.depacketizer();
        let Ok(Ok(data)) = contain(|| depacketizer.depacketize(payload)) else {
            return false;
        };
        self.codec.is_keyframe(&data)
            || (self.codec == VideoCodec::H264 && annexb::nal_types(&data).any(|t| t == 7))
    }

    /// Drops the packets of the frame with `timestamp` from `from` on.
    fn skip_frame(&mut self, from: u16, timestamp: u32) {
        let mut seq = from;
        while self
            .slot(seq)
            .is_some_and(|p| p.header.timestamp == timestamp)
        {
            self.take(seq);
            self.lost += 1;
            seq = seq.wrapping_add(1);
        }
        self.next = Some(seq);
        self.waiting_since = None;
    }

    /// Where the frame starting at `start` ends, or the first packet it still lacks.
    fn frame_end(&self, start: u16, timestamp: u32) -> FrameEnd {
        let depacketizer = self.depacketizer();
        let mut seq = start;
        for _ in 0..WINDOW {
            let Some(packet) = self.slot(seq) else {
                return FrameEnd::Missing(seq);
            };
            if packet.header.timestamp != timestamp {
                // The next frame began without a tail on this one (its marker lost?):
                // this one ends before it.
                return FrameEnd::Complete(seq.wrapping_sub(1));
            }
            if depacketizer.is_partition_tail(packet.header.marker, &packet.payload) {
                return FrameEnd::Complete(seq);
            }
            seq = seq.wrapping_add(1);
        }
        FrameEnd::Missing(seq)
    }

    /// Takes out the packets `start..=end` and joins their payloads into one frame.
    fn take_frame(&mut self, start: u16, end: u16) -> Result<Bytes, String> {
        let mut depacketizer = self.depacketizer();
        let mut frame = BytesMut::new();
        let mut error = None;
        let mut seq = start;
        loop {
            if let Some(packet) = self.take(seq)
                && !packet.payload.is_empty()
                && error.is_none()
            {
                // The depacketizers index into payloads they have not checked (seen: an
                // H.264 STAP-A that claims more than it carries), so a hostile packet must
                // cost only its frame.
                match contain(|| depacketizer.depacketize(&packet.payload)) {
                    Ok(Ok(part)) => frame.extend_from_slice(&part),
                    Ok(Err(e)) => error = Some(format!("bad payload: {e}")),
                    Err(panic) => error = Some(format!("depacketizer refused a packet: {panic}")),
                }
            }
            if seq == end {
                break;
            }
            seq = seq.wrapping_add(1);
        }
        self.next = Some(end.wrapping_add(1));
        match error {
            Some(e) => Err(e),
            None if frame.is_empty() => Err("an empty frame".to_string()),
            None => Ok(frame.freeze()),
        }
    }

    /// A fresh depacketizer: one per frame, so that a broken frame's leftovers (an
    /// unfinished H.264 fragment) never reach the next.
    fn depacketizer(&self) -> Depacketize {
        match self.codec {
            VideoCodec::H264 => Depacketize::H264(H264Packet::default()),
            VideoCodec::Vp8 => Depacketize::Vp8(Vp8Packet::default()),
        }
    }
}

enum FrameEnd {
    /// The frame's last packet.
    Complete(u16),
    /// The first packet of the frame that has not arrived.
    Missing(u16),
}

enum Depacketize {
    H264(H264Packet),
    Vp8(Vp8Packet),
}

impl Depacketize {
    fn depacketize(&mut self, payload: &Bytes) -> Result<Bytes, rtc::shared::error::Error> {
        match self {
            Depacketize::H264(d) => d.depacketize(payload),
            Depacketize::Vp8(d) => d.depacketize(payload),
        }
    }

    fn is_partition_head(&self, payload: &Bytes) -> bool {
        match self {
            Depacketize::H264(d) => d.is_partition_head(payload),
            Depacketize::Vp8(d) => d.is_partition_head(payload),
        }
    }

    fn is_partition_tail(&self, marker: bool, payload: &Bytes) -> bool {
        match self {
            Depacketize::H264(d) => d.is_partition_tail(marker, payload),
            Depacketize::Vp8(d) => d.is_partition_tail(marker, payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VP8 packet: descriptor byte (S bit on the first packet of a frame), then `body` thrice.
    fn vp8(seq: u16, timestamp: u32, first: bool, last: bool, body: u8) -> Packet {
        let mut packet = Packet::default();
        packet.header.sequence_number = seq;
        packet.header.timestamp = timestamp;
        packet.header.marker = last;
        packet.payload = Bytes::from(vec![if first { 0x10 } else { 0x00 }, body, body, body]);
        packet
    }

    /// A one-packet VP8 frame with a 15-bit picture id, as libwebrtc sends them.
    fn vp8_with_picture(seq: u16, timestamp: u32, picture: u16, body: u8) -> Packet {
        let mut packet = vp8(seq, timestamp, true, true, body);
        let [high, low] = picture.to_be_bytes();
        packet.payload = Bytes::from(vec![0x90, 0x80, 0x80 | high, low, body, body, body]);
        packet
    }

    fn padding(seq: u16, timestamp: u32) -> Packet {
        let mut packet = vp8(seq, timestamp, false, false, 0);
        packet.payload = Bytes::new();
        packet
    }

    /// A frame of `n` packets with bodies `body..body+n`.
    fn frame(seq: u16, timestamp: u32, n: u16, body: u8) -> Vec<Packet> {
        (0..n)
            .map(|i| {
                vp8(
                    seq.wrapping_add(i),
                    timestamp,
                    i == 0,
                    i == n - 1,
                    body + i as u8,
                )
            })
            .collect()
    }

    fn push_all(
        a: &mut FrameAssembler,
        packets: Vec<Packet>,
        now: Instant,
    ) -> Vec<Result<Bytes, String>> {
        packets.into_iter().flat_map(|p| a.push(p, now)).collect()
    }

    #[test]
    fn frames_come_out_whole_and_in_order_across_reordering_and_wraparound() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let mut packets = frame(65534, 1000, 3, 10);
        packets.extend(frame(1, 4000, 2, 20));
        packets.swap(1, 3);
        let out = push_all(&mut a, packets, now);
        let frames: Vec<Bytes> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            frames,
            vec![
                Bytes::from_static(&[10, 10, 10, 11, 11, 11, 12, 12, 12]),
                Bytes::from_static(&[20, 20, 20, 21, 21, 21])
            ]
        );
    }

    #[test]
    fn a_lost_packet_is_waited_for_then_its_frame_is_dropped_with_an_error() {
        // Odd first bytes: VP8 inter frames, which do not end the wait.
        let t0 = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let mut broken = frame(100, 1000, 3, 11);
        broken.remove(1);
        assert!(push_all(&mut a, broken, t0).is_empty());
        // The next frame is complete, but the broken one holds it until MAX_WAIT.
        assert!(push_all(&mut a, frame(103, 4000, 1, 21), t0).is_empty());
        let later = t0 + MAX_WAIT;
        let out = push_all(&mut a, frame(104, 7000, 1, 31), later);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].as_ref().is_err_and(|e| e.contains("lost")));
        assert_eq!(out[1].as_ref().unwrap(), &Bytes::from_static(&[21, 21, 21]));
        assert_eq!(out[2].as_ref().unwrap(), &Bytes::from_static(&[31, 31, 31]));
    }

    /// Issue 15: a 10 s outage leaves hundreds of sequence numbers missing; they are given
    /// up on together after one wait, not one per wait (which froze the picture for minutes).
    #[test]
    fn a_long_hole_is_given_up_on_after_one_wait() {
        let t0 = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        assert_eq!(push_all(&mut a, frame(100, 1000, 1, 11), t0).len(), 1);
        assert!(push_all(&mut a, frame(401, 4000, 1, 21), t0).is_empty());
        let out = push_all(&mut a, frame(402, 7000, 1, 31), t0 + MAX_WAIT);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(
            out[0]
                .as_ref()
                .is_err_and(|e| e.contains("300 packets lost"))
        );
        assert_eq!(out[1].as_ref().unwrap(), &Bytes::from_static(&[21, 21, 21]));
        assert_eq!(out[2].as_ref().unwrap(), &Bytes::from_static(&[31, 31, 31]));
    }

    #[test]
    fn a_whole_keyframe_after_a_hole_ends_the_wait() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let mut broken = frame(100, 1000, 3, 11);
        broken.remove(1);
        assert!(push_all(&mut a, broken, now).is_empty());
        // An even first byte: a VP8 key frame.
        let out = push_all(&mut a, frame(103, 4000, 2, 40), now);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].as_ref().is_err_and(|e| e.contains("lost")));
        assert_eq!(
            out[1].as_ref().unwrap(),
            &Bytes::from_static(&[40, 40, 40, 41, 41, 41])
        );
    }

    #[test]
    fn a_packet_that_comes_late_is_not_lost() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let mut packets = frame(7, 1000, 4, 10);
        let late = packets.remove(2);
        assert!(push_all(&mut a, packets, now).is_empty());
        let out = a.push(late, now + Duration::from_millis(100));
        assert_eq!(out.len(), 1);
        assert!(out[0].is_ok());
    }

    #[test]
    fn the_middle_of_a_frame_and_padding_are_passed_over() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        // We tune in mid-frame: its tail, then a padding packet, then a whole frame.
        let mut packets = frame(50, 1000, 3, 10).split_off(1);
        let mut padding = vp8(53, 1000, false, false, 0);
        padding.payload = Bytes::new();
        packets.push(padding);
        packets.extend(frame(54, 4000, 1, 40));
        let out = push_all(&mut a, packets, now);
        let frames: Vec<&Bytes> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(frames, vec![&Bytes::from_static(&[40, 40, 40])]);
    }

    /// Issue 15: Firefox probes its link with bursts of padding on the media stream; a lost
    /// padding packet is never resent and must neither hold up nor break the picture.
    #[test]
    fn a_hole_that_held_only_padding_is_passed_over_at_once() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let mut packets = vec![vp8_with_picture(10, 1000, 32767, 1)];
        // Padding 11-14, of which 12 is lost, then the next picture (the id wraps).
        packets.extend([padding(11, 1000), padding(13, 1000), padding(14, 1000)]);
        packets.push(vp8_with_picture(15, 4000, 0, 2));
        let out = push_all(&mut a, packets, now);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(Result::is_ok), "no loss reported: {out:?}");
        // The 7-bit form, wrapping at 128.
        let short = |seq: u16, timestamp: u32, picture: u8| {
            let mut packet = vp8(seq, timestamp, true, true, 3);
            packet.payload = Bytes::from(vec![0x90, 0x80, picture, 3]);
            packet
        };
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let out = push_all(&mut a, vec![short(1, 1000, 127), short(3, 4000, 0)], now);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(Result::is_ok), "no loss reported: {out:?}");
    }

    #[test]
    fn a_hole_that_took_a_whole_frame_is_still_a_loss() {
        let t0 = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        // Odd bodies: inter frames, which do not end the wait as a key frame would.
        assert_eq!(a.push(vp8_with_picture(10, 1000, 5, 1), t0).len(), 1);
        // Picture 6 (packet 11) never came: 7 does not follow 5.
        assert!(a.push(vp8_with_picture(12, 7000, 7, 3), t0).is_empty());
        let out = a.push(vp8_with_picture(13, 10000, 8, 5), t0 + MAX_WAIT);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].as_ref().is_err_and(|e| e.contains("1 packets lost")));
    }

    #[test]
    fn a_far_jump_starts_afresh_and_memory_stays_small() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        assert_eq!(push_all(&mut a, frame(10, 1000, 1, 10), now).len(), 1);
        let out = push_all(&mut a, frame(30_000, 9000, 1, 50), now);
        assert!(out[0].as_ref().is_err_and(|e| e.contains("jumped")));
        assert_eq!(out[1].as_ref().unwrap(), &Bytes::from_static(&[50, 50, 50]));
        assert_eq!(a.slots.len(), usize::from(WINDOW));
    }
}
