//! Codec choices: what we register per call and how we read a browser's offer.
//!
//! In an answer, webrtc-rs keeps the offer's codec order filtered by what is registered,
//! and Chromium lists VP8 first; so a call registers only the codec we want the browser to
//! send: H.264 (decoded about ten times cheaper than VP8 here) when the offer has the
//! constrained-baseline, packetization-mode 1 profile, VP8 otherwise (Firefox without
//! OpenH264). An offer of ours lists H.264 first, then VP8.

use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use webrtc::peer_connection::MediaEngine;

/// The H.264 flavour browsers decode for WebRTC and OpenH264 encodes.
const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// The video codecs we can receive (and, for H.264, send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    Vp8,
}

impl VideoCodec {
    pub fn rtp_codec(self) -> RTCRtpCodec {
        let feedback = [
            ("goog-remb", ""),
            ("ccm", "fir"),
            ("nack", ""),
            ("nack", "pli"),
        ]
        .iter()
        .map(|(t, p)| RTCPFeedback {
            typ: (*t).to_string(),
            parameter: (*p).to_string(),
        })
        .collect();
        let (mime, fmtp) = match self {
            VideoCodec::H264 => (MIME_TYPE_H264, H264_FMTP),
            VideoCodec::Vp8 => (MIME_TYPE_VP8, ""),
        };
        RTCRtpCodec {
            mime_type: mime.to_string(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: fmtp.to_string(),
            rtcp_feedback: feedback,
        }
    }

    /// Whether a whole frame can be decoded without the ones before it: an H.264 access
    /// unit with an IDR slice, or a VP8 key frame (RFC 6386 9.1: bit 0 of the frame tag).
    pub fn is_keyframe(self, frame: &[u8]) -> bool {
        match self {
            VideoCodec::H264 => crate::media::annexb::is_keyframe(frame),
            VideoCodec::Vp8 => frame.first().is_some_and(|b| b & 1 == 0),
        }
    }

    pub fn from_mime(mime: &str) -> Option<VideoCodec> {
        if mime.eq_ignore_ascii_case(MIME_TYPE_H264) {
            Some(VideoCodec::H264)
        } else if mime.eq_ignore_ascii_case(MIME_TYPE_VP8) {
            Some(VideoCodec::Vp8)
        } else {
            None
        }
    }
}

/// The parameters under which `media_engine` registers `video` (payload types 102, 104, …).
pub fn registered_parameters(video: &[VideoCodec]) -> Vec<RTCRtpCodecParameters> {
    video
        .iter()
        .enumerate()
        .map(|(i, codec)| RTCRtpCodecParameters {
            rtp_codec: codec.rtp_codec(),
            payload_type: 102 + 2 * i as u8,
        })
        .collect()
}

/// Opus as WebRTC signals it (always "2 channels"; we send mono in it).
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_string(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_string(),
        rtcp_feedback: Vec::new(),
    }
}

/// A media engine with Opus and the given video codecs, in preference order.
pub fn media_engine(video: &[VideoCodec]) -> Result<MediaEngine, String> {
    let mut engine = MediaEngine::default();
    engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: 111,
            },
            RtpCodecKind::Audio,
        )
        .map_err(|e| e.to_string())?;
    // Browsers then tag each audio packet with its loudness: the speaking indicator.
    engine
        .register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: AUDIO_LEVEL_URI.to_string(),
            },
            RtpCodecKind::Audio,
            None,
        )
        .map_err(|e| e.to_string())?;
    for parameters in registered_parameters(video) {
        engine
            .register_codec(parameters, RtpCodecKind::Video)
            .map_err(|e| e.to_string())?;
    }
    Ok(engine)
}

/// The one video codec to accept in an answer to `offer`: the first of `preferred` that
/// the offer has, if any.
pub fn choose_for_offer(offer: &str, preferred: &[VideoCodec]) -> Option<VideoCodec> {
    let has_vp8 = offer
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .any(|rest| rest.to_ascii_lowercase().contains(" vp8/90000"));
    preferred.iter().copied().find(|codec| match codec {
        VideoCodec::H264 => offer_has_baseline_h264(offer),
        VideoCodec::Vp8 => has_vp8,
    })
}

/// Our default preference: H.264 (cheap to decode), then VP8 (every browser has it).
pub const DEFAULT_PREFERENCE: [VideoCodec; 2] = [VideoCodec::H264, VideoCodec::Vp8];

/// Does the offer carry H.264 packetization-mode 1, constrained baseline (42e01f)?
pub fn offer_has_baseline_h264(sdp: &str) -> bool {
    let h264: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter(|rest| rest.to_ascii_lowercase().contains(" h264/90000"))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=fmtp:"))
        .any(|rest| {
            let mut parts = rest.splitn(2, ' ');
            let (pt, params) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let params = params.to_ascii_lowercase();
            h264.contains(&pt)
                && params.contains("packetization-mode=1")
                && params.contains("profile-level-id=42e01f")
        })
}

/// The video codec an answer to our offer settles on: the first of H.264 and VP8 in its
/// `m=video` line's order (the codec we then send), or `None` without video or either.
pub fn answered_video_codec(answer: &str) -> Option<VideoCodec> {
    let mut video_section = false;
    let mut order: Vec<&str> = Vec::new();
    let mut names: Vec<(&str, VideoCodec)> = Vec::new();
    for line in answer.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            video_section = media.starts_with("video ");
            if video_section && order.is_empty() {
                order = media.split_whitespace().skip(3).collect();
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:")
            && video_section
            && let Some((pt, name)) = rest.split_once(' ')
            && let Some(codec) = name
                .split('/')
                .next()
                .and_then(|n| VideoCodec::from_mime(&format!("video/{n}")))
        {
            names.push((pt, codec));
        }
    }
    order
        .iter()
        .find_map(|pt| names.iter().find(|(p, _)| p == pt).map(|(_, c)| *c))
}

/// The RTP header extension that carries an audio packet's level (RFC 6464).
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// The id an SDP gives the audio-level header extension, if it has it.
pub fn audio_level_id(sdp: &str) -> Option<u8> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=extmap:"))
        .find(|rest| rest.contains(AUDIO_LEVEL_URI))
        .and_then(|rest| rest.split(['/', ' ']).next())
        .and_then(|id| id.parse().ok())
        .filter(|id| (1..=14).contains(id))
}

/// The first `a=mid:` of an SDP: our candidates belong to it (everything is bundled), and
/// webrtc-rs leaves `sdpMid` empty in the candidates it gathers.
pub fn first_mid(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=mid:"))
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| "0".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROMIUM: &str = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102 103\r\na=mid:1\r\n\
a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
a=rtpmap:103 H264/90000\r\n\
a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n";
    const FIREFOX: &str = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 120 124\r\na=mid:0\r\n\
a=rtpmap:120 VP8/90000\r\na=rtpmap:124 VP9/90000\r\n";

    #[test]
    fn an_answer_settles_on_its_first_codec_we_know() {
        let firefox_answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 109\r\na=rtpmap:109 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 124 120 126\r\na=rtpmap:124 VP9/90000\r\n\
a=rtpmap:120 VP8/90000\r\na=rtpmap:126 H264/90000\r\n";
        assert_eq!(answered_video_codec(firefox_answer), Some(VideoCodec::Vp8));
        assert_eq!(answered_video_codec(CHROMIUM), Some(VideoCodec::Vp8));
        let h264_first = CHROMIUM.replace(" 96 102 103", " 103 96");
        assert_eq!(answered_video_codec(&h264_first), Some(VideoCodec::H264));
        assert_eq!(answered_video_codec("v=0\r\nm=audio 9 RTP 0\r\n"), None);
        assert_eq!(
            answered_video_codec(FIREFOX.replace(" 120", "").as_str()),
            None
        );
    }

    #[test]
    fn h264_is_chosen_when_offered_and_vp8_otherwise() {
        let prefs = DEFAULT_PREFERENCE;
        assert_eq!(choose_for_offer(CHROMIUM, &prefs), Some(VideoCodec::H264));
        assert_eq!(choose_for_offer(FIREFOX, &prefs), Some(VideoCodec::Vp8));
        assert_eq!(
            choose_for_offer(CHROMIUM, &[VideoCodec::Vp8]),
            Some(VideoCodec::Vp8)
        );
        assert_eq!(choose_for_offer(FIREFOX, &[VideoCodec::H264]), None);
        // Packetization mode 0 alone is not enough.
        let mode0 = "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=0;profile-level-id=42e01f\r\n";
        assert_eq!(choose_for_offer(mode0, &prefs), None);
        assert_eq!(choose_for_offer("", &prefs), None);
    }

    #[test]
    fn the_audio_level_extension_id_is_read_from_the_sdp() {
        let sdp = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
        assert_eq!(audio_level_id(sdp), Some(1));
        assert_eq!(
            audio_level_id("a=extmap:3/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            Some(3)
        );
        assert_eq!(
            audio_level_id("a=extmap:99 urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            None
        );
        assert_eq!(audio_level_id(CHROMIUM), None);
    }

    #[test]
    fn mids_and_mimes() {
        assert_eq!(first_mid(CHROMIUM), "1");
        assert_eq!(first_mid("v=0"), "0");
        assert_eq!(VideoCodec::from_mime("video/h264"), Some(VideoCodec::H264));
        assert_eq!(VideoCodec::from_mime("video/VP8"), Some(VideoCodec::Vp8));
        assert_eq!(VideoCodec::from_mime("video/AV1"), None);
        assert!(media_engine(&[VideoCodec::H264, VideoCodec::Vp8]).is_ok());
    }
}
