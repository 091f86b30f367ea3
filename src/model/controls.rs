//! What we send and hear: microphone, video and sound switches, and each participant's
//! volume. Pure state: the screen changes it on keys, the session applies it to the media.

/// Volume steps for `+` / `-`, in percent.
pub const VOLUME_STEP: u8 = 25;
/// Loudest a participant can be turned up to, in percent.
pub const MAX_VOLUME: u8 = 200;

/// Our own switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// Our microphone is sent (`m`).
    pub mic_on: bool,
    /// Our video is sent (`v`); when off, browsers see a "video off" card.
    pub video_on: bool,
    /// We play what others say (`d` deafens).
    pub sound_on: bool,
    /// This build and machine can play and capture sound at all.
    pub sound_available: bool,
    /// We send video at all (not `--no-video`).
    pub video_available: bool,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            mic_on: true,
            video_on: true,
            sound_on: true,
            // Set by the session once a sound device works.
            sound_available: false,
            video_available: true,
        }
    }
}

impl Controls {
    /// A short summary for the status bar, e.g. `mic off · video on · sound on`; empty
    /// when everything is on as usual.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.sound_available {
            if !self.mic_on {
                parts.push("mic off");
            }
            if !self.sound_on {
                parts.push("deafened");
            }
        }
        if self.video_available && !self.video_on {
            parts.push("video off");
        }
        parts.join(" · ")
    }
}

/// How loud one participant plays, as we set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hearing {
    pub muted: bool,
    /// Percent, 0 to [`MAX_VOLUME`].
    pub volume: u8,
}

impl Default for Hearing {
    fn default() -> Self {
        Self {
            muted: false,
            volume: 100,
        }
    }
}

impl Hearing {
    pub fn louder(&mut self) {
        self.volume = self.volume.saturating_add(VOLUME_STEP).min(MAX_VOLUME);
    }

    pub fn quieter(&mut self) {
        self.volume = self.volume.saturating_sub(VOLUME_STEP);
    }

    /// The gain to mix at: 0 when muted.
    pub fn gain(&self) -> f32 {
        if self.muted {
            0.0
        } else {
            f32::from(self.volume) / 100.0
        }
    }

    /// For the tile's title: `muted`, `vol 150%`, or nothing at the usual level.
    pub fn label(&self) -> Option<String> {
        if self.muted {
            Some("muted".to_string())
        } else if self.volume != 100 {
            Some(format!("vol {}%", self.volume))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_steps_stay_in_range_and_mute_silences() {
        let mut h = Hearing::default();
        for _ in 0..10 {
            h.louder();
        }
        assert_eq!(h.volume, MAX_VOLUME);
        assert_eq!(h.label().as_deref(), Some("vol 200%"));
        for _ in 0..10 {
            h.quieter();
        }
        assert_eq!(h.volume, 0);
        h.louder();
        assert!((h.gain() - 0.25).abs() < 1e-6);
        h.muted = true;
        assert_eq!(h.gain(), 0.0);
        assert_eq!(h.label().as_deref(), Some("muted"));
    }

    #[test]
    fn the_summary_names_only_what_is_off() {
        let mut c = Controls {
            sound_available: true,
            ..Controls::default()
        };
        assert_eq!(c.summary(), "");
        c.mic_on = false;
        c.video_on = false;
        assert_eq!(c.summary(), "mic off · video off");
        c.sound_available = false;
        assert_eq!(c.summary(), "video off");
    }
}
