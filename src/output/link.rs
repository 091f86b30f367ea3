//! Follows the link the screen is watched through (an SSH connection, say) by asking the
//! terminal itself: every frame ends with a device status request (`ESC[5n`), which the
//! terminal answers (`ESC[0n`) once it has processed everything written before it. An
//! answer therefore proves those bytes crossed the link, and its delay shows how much is
//! queued on the way. The rate goes down when a queue builds and up while none does and
//! more was wanted, so the answer to a key press never waits behind seconds of video.
//! Sans-I/O: fed the time, the bytes written and the answers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The request appended to every frame; terminals answer `ESC[0n` ("terminal OK").
pub const STATUS_REQUEST: &[u8] = b"\x1b[5n";

/// The rate a link starts at (bytes per second), before anything is measured: 1 Mbit/s.
const START_RATE: f64 = 125_000.0;
/// Never above 1 Gbit/s: no terminal link is faster, and the figure stays meaningful.
const MAX_RATE: f64 = 125_000_000.0;
/// Bytes in flight before the first answer, and never fewer.
const START_WINDOW: f64 = 16_000.0;
/// Never below 16 kbit/s: enough for the chrome and a slow picture.
const MIN_RATE: f64 = 2_000.0;
/// Queueing delay above which the rate is cut.
const QUEUE_HIGH: Duration = Duration::from_millis(60);
/// Queueing delay below which the rate may grow.
const QUEUE_LOW: Duration = Duration::from_millis(25);
/// How long the smallest round trip is remembered (routes and links change).
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// A terminal that has not answered a request within this long is taken not to answer.
const NO_ANSWER: Duration = Duration::from_secs(3);
/// Requests waiting for an answer; more are not sent (the link is far behind anyway).
const MAX_OUTSTANDING: usize = 64;

/// An outstanding status request.
#[derive(Debug, Clone, Copy)]
struct Request {
    sent: Instant,
    /// Bytes written up to and including the request.
    written: u64,
}

/// What the link measurement knows.
#[derive(Debug, Clone)]
pub struct LinkMeter {
    outstanding: VecDeque<Request>,
    written: u64,
    acknowledged: u64,
    /// Bytes per second the output may use.
    rate: f64,
    /// Smallest round trip seen in the window, and when.
    min_rtt: Option<(Duration, Instant)>,
    last_rtt: Option<Duration>,
    /// When the rate last went down (one cut per round trip).
    last_cut: Option<Instant>,
    /// True once any request was answered; false if the terminal never answers.
    answers: Option<bool>,
    first_request: Option<Instant>,
}

impl Default for LinkMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl LinkMeter {
    pub fn new() -> LinkMeter {
        LinkMeter {
            outstanding: VecDeque::new(),
            written: 0,
            acknowledged: 0,
            rate: START_RATE,
            min_rtt: None,
            last_rtt: None,
            last_cut: None,
            answers: None,
            first_request: None,
        }
    }

    /// The rate to hold output to, in bytes per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Bytes written but not yet proven displayed.
    pub fn in_flight(&self) -> u64 {
        self.written - self.acknowledged
    }

    /// Bytes that may still be written before earlier ones are proven displayed: the rate
    /// times the smallest round trip plus a little queue, and a small start before any
    /// answer. This caps the queue on the link even while the rate is still too high.
    pub fn room(&self) -> usize {
        if self.answers == Some(false) {
            return usize::MAX;
        }
        let window = match self.min_rtt {
            Some((min, _)) => (self.rate * (min + QUEUE_HIGH * 2).as_secs_f64()).max(START_WINDOW),
            None => START_WINDOW,
        };
        (window as u64).saturating_sub(self.in_flight()) as usize
    }

    /// The latest round trip of a request (link delay plus queue).
    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// `Some(false)` once the terminal has left a request unanswered too long: then only
    /// the rate given at start (or none) can hold the output.
    pub fn answers(&self) -> Option<bool> {
        self.answers
    }

    /// Whether a request should end the next frame.
    pub fn wants_request(&self) -> bool {
        self.answers != Some(false) && self.outstanding.len() < MAX_OUTSTANDING
    }

    /// Counts a frame of `bytes` written, `with_request` if it ended with [`STATUS_REQUEST`].
    pub fn wrote(&mut self, bytes: usize, with_request: bool, now: Instant) {
        self.written += bytes as u64;
        if with_request {
            self.first_request.get_or_insert(now);
            self.outstanding.push_back(Request {
                sent: now,
                written: self.written,
            });
        }
    }

    /// Gives up on answers once the oldest request is long overdue and none ever came.
    pub fn tick(&mut self, now: Instant) {
        if self.answers.is_none()
            && let Some(oldest) = self.outstanding.front()
            && now.saturating_duration_since(oldest.sent) > NO_ANSWER
        {
            self.answers = Some(false);
            self.outstanding.clear();
        }
    }

    /// The terminal answered the oldest request. `wanted_more` says whether output was
    /// held back by the rate lately (only then is a higher rate worth trying).
    pub fn answered(&mut self, now: Instant, wanted_more: bool) {
        let Some(request) = self.outstanding.pop_front() else {
            return; // an answer to someone else's request, or a stray one
        };
        self.answers = Some(true);
        self.acknowledged = request.written;
        let rtt = now.saturating_duration_since(request.sent);
        self.last_rtt = Some(rtt);
        let min = match self.min_rtt {
            Some((min, at)) if min <= rtt && now.saturating_duration_since(at) < MIN_RTT_WINDOW => {
                min
            }
            _ => {
                self.min_rtt = Some((rtt, now));
                rtt
            }
        };
        let queue = rtt.saturating_sub(min);
        if queue > QUEUE_HIGH {
            // One cut per round trip: the answers behind it still carry the old queue.
            let recently = self
                .last_cut
                .is_some_and(|at| now.saturating_duration_since(at) < rtt);
            if !recently {
                self.rate = (self.rate * 0.7).max(MIN_RATE);
                self.last_cut = Some(now);
            }
        } else if queue < QUEUE_LOW && wanted_more {
            self.rate = (self.rate * 1.06).min(MAX_RATE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link of `rate` bytes per second and `delay` each way, with the terminal answering
    /// at once, driven by a sender that always wants to write `frame` bytes every 33 ms.
    /// Returns the meter and the largest queueing delay seen in the last 5 s.
    fn run(rate: f64, delay: Duration, frame: usize, seconds: u64) -> (LinkMeter, Duration) {
        let t0 = Instant::now();
        let mut meter = LinkMeter::new();
        let mut pacer = super::super::rate::Pacer::new(Some(meter.rate()), t0);
        // The link: when the bottleneck is free again, and answers on their way back.
        let mut link_free = t0;
        let mut answers: VecDeque<Instant> = VecDeque::new();
        let mut worst_late = Duration::ZERO;
        let step = Duration::from_millis(33);
        let mut now = t0;
        while now < t0 + Duration::from_secs(seconds) {
            while answers.front().is_some_and(|&at| at <= now) {
                answers.pop_front();
                meter.answered(now, true);
            }
            pacer.set_rate(Some(meter.rate()));
            let bytes = pacer.allowance(now).min(frame).min(meter.room());
            if bytes > 0 {
                pacer.spend(bytes, now);
                meter.wrote(bytes, true, now);
                let start = link_free.max(now + delay);
                let queued = start.saturating_duration_since(now + delay);
                if now > t0 + Duration::from_secs(seconds - 5) {
                    worst_late = worst_late.max(queued);
                }
                link_free = start + Duration::from_secs_f64(bytes as f64 / rate);
                answers.push_back(link_free + delay);
            }
            now += step;
        }
        (meter, worst_late)
    }

    #[test]
    fn it_finds_a_slow_link_without_building_a_queue() {
        // 2 Mbit/s, 40 ms each way; video wants 4 Mbit/s.
        let (meter, queue) = run(250_000.0, Duration::from_millis(40), 16_500, 60);
        assert!(
            meter.rate() > 150_000.0 && meter.rate() < 300_000.0,
            "rate {} B/s",
            meter.rate()
        );
        assert!(queue < Duration::from_millis(200), "queue {queue:?}");
    }

    #[test]
    fn it_grows_to_a_fast_link() {
        // 10 Mbit/s, 40 ms each way: starts at 1 Mbit/s and must climb.
        let (meter, _) = run(1_250_000.0, Duration::from_millis(40), 60_000, 30);
        assert!(meter.rate() > 800_000.0, "rate {} B/s", meter.rate());
    }

    #[test]
    fn the_rate_grows_only_while_it_is_what_holds_output_back() {
        // A fast link and a sender that never wanted more than it got: the rate stays.
        let t0 = Instant::now();
        let mut meter = LinkMeter::new();
        for i in 0..500u32 {
            let now = t0 + Duration::from_millis(33) * i;
            meter.wrote(1000, true, now);
            meter.answered(now + Duration::from_millis(20), false);
        }
        assert_eq!(meter.rate(), START_RATE);
        // Wanting more on an idle link climbs, but never past the cap.
        for i in 500..5000u32 {
            let now = t0 + Duration::from_millis(33) * i;
            meter.wrote(1000, true, now);
            meter.answered(now + Duration::from_millis(20), true);
        }
        assert_eq!(meter.rate(), MAX_RATE);
    }

    #[test]
    fn a_terminal_that_never_answers_is_noticed() {
        let t0 = Instant::now();
        let mut meter = LinkMeter::new();
        meter.wrote(100, true, t0);
        meter.tick(t0 + Duration::from_secs(1));
        assert_eq!(meter.answers(), None);
        meter.tick(t0 + Duration::from_secs(4));
        assert_eq!(meter.answers(), Some(false));
        assert!(!meter.wants_request());
        // A stray answer changes nothing.
        meter.answered(t0 + Duration::from_secs(5), true);
        assert_eq!(meter.in_flight(), 100);
    }
}
