//! What we ask each browser to send us: about the bitrate its tile needs, not its whole
//! camera. A terminal tile shows a few thousand pixels; a browser left alone sends a
//! 640x480 camera at 1-2 Mbit/s, paid on the student's uplink and again in our decoder.
//!
//! Two levers, both in what browsers follow (measured by their own `getStats`, see
//! BENCHMARKS.md "Asking for what is shown"):
//! - the SDP we send carries `b=AS`/`b=TIAS` under `m=video`: a ceiling for the whole call,
//!   set to what the largest tile on this screen (a zoomed one) needs;
//! - REMB (RTCP receiver estimated maximum bitrate, `goog-remb` in our SDP) tells the
//!   sender, every second and at once on a change, what the tile needs now: a zoom raises
//!   it, a re-flow or a page turn lowers it.

use std::collections::HashMap;
use std::sync::OnceLock;

use tokio::sync::watch;

/// The least we ask for: a tile that is not on screen (another page of the grid, or
/// hidden behind a zoomed tile). Browsers do not go below about 30 kbit/s anyway.
pub const NOT_SHOWN: u32 = 30_000;
/// Never ask for more than this, however large the terminal.
pub const MOST: u32 = 2_500_000;
/// Bits per second per shown pixel (a cell shows two, one above the other). The browser
/// picks its resolution from the bitrate; 40 gives a 64x24 tile about 110 kbit/s, at
/// which Chromium sends 320x240 or less: still more pixels than the tile shows.
const BITS_PER_PIXEL: u32 = 40;
/// The least a shown tile asks for, so that a small tile still gets a clean picture.
const LEAST_SHOWN: u32 = 60_000;
const _: () = assert!(
    NOT_SHOWN < LEAST_SHOWN,
    "a shown tile asks for more than a hidden one"
);

/// Which of the two levers we pull. Both, unless `PACKSPACES_BITRATE_REQUESTS` says `sdp`,
/// `remb` or `none`: for finding out what a browser follows, and for letting browsers send
/// all they would (a recording at full size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levers {
    pub sdp: bool,
    pub remb: bool,
}

/// The levers this process pulls (read once from the environment).
pub fn levers() -> Levers {
    static LEVERS: OnceLock<Levers> = OnceLock::new();
    *LEVERS.get_or_init(|| {
        let setting = std::env::var("PACKSPACES_BITRATE_REQUESTS").unwrap_or_default();
        let levers = parse_levers(&setting);
        if levers.is_none() {
            tracing::warn!(
                "PACKSPACES_BITRATE_REQUESTS={setting:?} is not sdp, remb, none or both"
            );
        }
        levers.unwrap_or(Levers {
            sdp: true,
            remb: true,
        })
    })
}

fn parse_levers(setting: &str) -> Option<Levers> {
    let (sdp, remb) = match setting {
        "" | "both" => (true, true),
        "sdp" => (true, false),
        "remb" => (false, true),
        "none" => (false, false),
        _ => return None,
    };
    Some(Levers { sdp, remb })
}

/// What a tile needs: a picture area of `cols x rows` cells.
pub fn for_cells(cols: u16, rows: u16) -> u32 {
    let pixels = u64::from(cols) * u64::from(rows) * 2;
    let bitrate = (pixels * u64::from(BITS_PER_PIXEL)).min(u64::from(MOST)) as u32;
    bitrate.max(LEAST_SHOWN)
}

/// What one peer's tile asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// Bits per second, for REMB.
    pub bitrate: u32,
    /// The tile is on screen: its frames are decoded (off screen they are not).
    pub shown: bool,
}

/// Every peer's [`Want`], and the ceiling for new calls' SDP. Empty when nobody looks at a
/// screen (a bot): then we ask for nothing and browsers send as they would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wants {
    pub peers: HashMap<String, Want>,
    /// What the largest tile on this screen needs (bits per second), for `b=AS`/`b=TIAS`.
    pub ceiling: Option<u32>,
}

impl Wants {
    /// What `peer`'s tile asks for: not shown if it has no tile, nothing without a screen.
    pub fn of(&self, peer: &str) -> Option<Want> {
        self.ceiling?;
        Some(self.peers.get(peer).copied().unwrap_or(Want {
            bitrate: NOT_SHOWN,
            shown: false,
        }))
    }
}

/// Where the session publishes [`Wants`] and every video receiver reads them.
pub type WantsReceiver = watch::Receiver<Wants>;

/// `sdp` with a bandwidth ceiling of `bitrate` (bits per second) in its video sections:
/// `b=AS` (kbit/s, which Chromium follows) and `b=TIAS` (bit/s, Firefox's), after the
/// section's `c=` line as RFC 4566 orders them, replacing any there were.
pub fn with_ceiling(sdp: &str, bitrate: u32) -> String {
    let newline = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(sdp.len() + 64);
    let mut in_video = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_video = line.starts_with("m=video");
        }
        if in_video && (line.starts_with("b=AS:") || line.starts_with("b=TIAS:")) {
            continue;
        }
        out.push_str(line);
        out.push_str(newline);
        if in_video && line.starts_with("c=") {
            out.push_str(&format!("b=AS:{}{newline}", bitrate.div_ceil(1000)));
            out.push_str(&format!("b=TIAS:{bitrate}{newline}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigger_tiles_ask_for_more_within_bounds() {
        let small = for_cells(62, 22);
        let zoomed = for_cells(128, 45);
        assert!(small < zoomed);
        assert!((60_000..=200_000).contains(&small), "{small}");
        assert_eq!(for_cells(1, 1), LEAST_SHOWN);
        assert_eq!(for_cells(u16::MAX, u16::MAX), MOST);
    }

    #[test]
    fn the_ceiling_goes_under_video_only_and_replaces_an_old_one() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\nb=AS:30\r\na=mid:1\r\n";
        let out = with_ceiling(sdp, 450_000);
        let audio = &out[out.find("m=audio").unwrap()..out.find("m=video").unwrap()];
        let video = &out[out.find("m=video").unwrap()..];
        assert!(!audio.contains("b="), "{audio}");
        assert!(
            video.starts_with(
                "m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\nb=AS:450\r\nb=TIAS:450000\r\na=mid:1\r\n"
            ),
            "{video}"
        );
        assert!(!out.contains("b=AS:30"));
    }

    #[test]
    fn levers_are_both_unless_told() {
        assert_eq!(
            parse_levers(""),
            Some(Levers {
                sdp: true,
                remb: true
            })
        );
        assert_eq!(
            parse_levers("remb"),
            Some(Levers {
                sdp: false,
                remb: true
            })
        );
        assert_eq!(
            parse_levers("none"),
            Some(Levers {
                sdp: false,
                remb: false
            })
        );
        assert_eq!(parse_levers("REMB please"), None);
    }

    #[test]
    fn without_a_screen_nobody_is_asked() {
        let mut wants = Wants::default();
        assert_eq!(wants.of("a"), None);
        wants.ceiling = Some(500_000);
        assert_eq!(
            wants.of("a"),
            Some(Want {
                bitrate: NOT_SHOWN,
                shown: false
            })
        );
    }
}
