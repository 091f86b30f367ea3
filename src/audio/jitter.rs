//! A per-participant jitter buffer: RTP packets arrive early, late, twice or never; the
//! playback clock takes one packet per pull, in sequence order.
//!
//! It is keyed by RTP sequence number only: each pull hands out one packet whatever its
//! duration, and the decoded samples queue behind it, so a sender's frame size (or a
//! DTX gap in its timestamps) needs no bookkeeping here. It waits for `target` packets
//! before it starts (the delay that absorbs network jitter), reports a missing packet as
//! lost so the decoder can conceal it, drops packets that arrive after their turn, and
//! never holds more than `max` packets (dropping the oldest keeps latency bounded when the
//! sender's clock runs faster than ours). When nothing arrives for a while (the sender
//! muted or left), it goes back to waiting, so the next packet starts afresh.

use std::collections::BTreeMap;

use bytes::Bytes;

/// What the playback clock gets for one pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The next packet, in order.
    Packet(Bytes),
    /// The next packet is missing: conceal it.
    Lost,
    /// Nothing to play (not started, or stopped after a silence).
    Silence,
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed (whatever became of them).
    pub received: u64,
    pub played: u64,
    pub lost: u64,
    pub late: u64,
    pub duplicate: u64,
    /// Dropped because the buffer was full.
    pub overflow: u64,
    /// Times playback stopped because nothing came (the sender muted or left, or the link
    /// dropped): what a listener hears as the sound cutting out.
    pub stalls: u64,
}

/// A jump in sequence numbers larger than this is a restarted stream, not loss.
const RESTART_JUMP: i64 = 1000;
/// Consecutive pulls that find the buffer empty before it stops concealing and waits.
const MAX_MISSES: u32 = 5;

#[derive(Debug)]
pub struct JitterBuffer {
    /// Packets by extended (unwrapped) sequence number.
    packets: BTreeMap<i64, Bytes>,
    /// The highest extended sequence number seen, if any.
    highest: Option<i64>,
    /// The next sequence number to hand out, once playing.
    next: Option<i64>,
    misses: u32,
    target: usize,
    max: usize,
    pub stats: JitterStats,
}

impl JitterBuffer {
    /// Starts playing once `target` packets wait; holds at most `max` (≥ `target`).
    pub fn new(target: usize, max: usize) -> JitterBuffer {
        JitterBuffer {
            packets: BTreeMap::new(),
            highest: None,
            next: None,
            misses: 0,
            target: target.max(1),
            max: max.max(target).max(1),
            stats: JitterStats::default(),
        }
    }

    /// How many packets wait.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Adds a packet with RTP sequence number `sequence`.
    pub fn push(&mut self, sequence: u16, payload: Bytes) {
        self.stats.received += 1;
        let ext = match self.highest {
            None => i64::from(sequence),
            Some(h) => {
                // Sequence numbers wrap at 2^16: take the nearest unwrapped value.
                let delta = i64::from(sequence.wrapping_sub(h as u16) as i16);
                if delta.abs() > RESTART_JUMP {
                    self.restart();
                    i64::from(sequence)
                } else {
                    h + delta
                }
            }
        };
        if self.next.is_some_and(|n| ext < n) {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicate += 1;
            return;
        }
        self.packets.insert(ext, payload);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        while self.packets.len() > self.max {
            if let Some((oldest, _)) = self.packets.pop_first() {
                self.stats.overflow += 1;
                if let Some(n) = &mut self.next {
                    *n = (*n).max(oldest + 1);
                }
            }
        }
    }

    /// The playback clock's pull: the next packet, a loss to conceal, or silence.
    pub fn pop(&mut self) -> Slot {
        let next = match self.next {
            Some(n) => n,
            None if self.packets.len() >= self.target => match self.packets.keys().next() {
                Some(&first) => first,
                None => return Slot::Silence,
            },
            None => return Slot::Silence,
        };
        if let Some(payload) = self.packets.remove(&next) {
            self.next = Some(next + 1);
            self.misses = 0;
            self.stats.played += 1;
            return Slot::Packet(payload);
        }
        if self.packets.is_empty() {
            self.misses += 1;
            if self.misses > MAX_MISSES {
                // They stopped sending: wait for them to start again.
                self.next = None;
                self.misses = 0;
                self.stats.stalls += 1;
                return Slot::Silence;
            }
        }
        self.next = Some(next + 1);
        self.stats.lost += 1;
        Slot::Lost
    }

    fn restart(&mut self) {
        self.packets.clear();
        self.highest = None;
        self.next = None;
        self.misses = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn p(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    fn packet(slot: Slot) -> u8 {
        match slot {
            Slot::Packet(b) => b[0],
            other => panic!("expected a packet, got {other:?}"),
        }
    }

    #[test]
    fn it_waits_for_the_target_then_plays_in_order() {
        let mut j = JitterBuffer::new(3, 10);
        j.push(11, p(11));
        j.push(10, p(10));
        assert_eq!(j.pop(), Slot::Silence);
        j.push(12, p(12));
        assert_eq!(packet(j.pop()), 10);
        assert_eq!(packet(j.pop()), 11);
        assert_eq!(packet(j.pop()), 12);
    }

    #[test]
    fn it_reorders_across_the_wrap() {
        let mut j = JitterBuffer::new(4, 10);
        for seq in [65534u16, 0, 65535, 1] {
            j.push(seq, p(seq as u8));
        }
        let order: Vec<u8> = (0..4).map(|_| packet(j.pop())).collect();
        assert_eq!(order, vec![254, 255, 0, 1]);
    }

    #[test]
    fn a_missing_packet_is_lost_and_a_late_one_dropped() {
        let mut j = JitterBuffer::new(2, 10);
        j.push(1, p(1));
        j.push(3, p(3));
        assert_eq!(packet(j.pop()), 1);
        assert_eq!(j.pop(), Slot::Lost);
        // 2 comes after its turn.
        j.push(2, p(2));
        assert_eq!(packet(j.pop()), 3);
        assert_eq!(j.stats.late, 1);
        assert_eq!(j.stats.lost, 1);
        j.push(4, p(4));
        j.push(4, p(4));
        assert_eq!(j.stats.duplicate, 1);
    }

    #[test]
    fn a_full_buffer_drops_the_oldest() {
        let mut j = JitterBuffer::new(1, 3);
        for seq in 0..6 {
            j.push(seq, p(seq as u8));
        }
        assert_eq!(j.len(), 3);
        assert_eq!(j.stats.overflow, 3);
        assert_eq!(packet(j.pop()), 3);
    }

    #[test]
    fn after_a_silence_it_starts_afresh() {
        let mut j = JitterBuffer::new(1, 10);
        j.push(100, p(1));
        assert_eq!(packet(j.pop()), 1);
        // The sender muted: a few concealed frames, then silence.
        let slots: Vec<Slot> = (0..8).map(|_| j.pop()).collect();
        assert_eq!(slots[0], Slot::Lost);
        assert_eq!(slots[7], Slot::Silence);
        assert_eq!(j.stats.stalls, 1);
        // It unmutes: its sequence numbers went on from where it stopped.
        j.push(101, p(2));
        assert_eq!(packet(j.pop()), 2);
        // A restarted stream (far-away sequence numbers) is taken too.
        j.push(40_000, p(3));
        assert_eq!(packet(j.pop()), 3);
    }
}
