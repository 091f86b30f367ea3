//! STUN and TURN servers for calls, as WebRTC's `RTCIceServer` writes them: made from
//! `--ice-server URL` (repeatable) with `--ice-username` and `--ice-credential` for the TURN
//! ones, and shared as they are by the page `serve` hands out, its `/packspaces.json`, and
//! our own calls. Pure data and checks.

use serde::{Deserialize, Serialize};

use crate::text::sanitize;

/// At most this many servers are taken from anywhere.
pub const MAX_SERVERS: usize = 16;

/// One STUN or TURN server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Why a server list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceError {
    #[error("ICE server {0:?}: expected stun:, stuns:, turn: or turns: followed by a host")]
    BadUrl(String),
    #[error("TURN server {0:?} needs --ice-username and --ice-credential")]
    NoCredentials(String),
    #[error("{0} ICE servers (at most {MAX_SERVERS})")]
    TooMany(usize),
    #[error("bad ICE {0}: at most 256 printable characters")]
    BadText(&'static str),
}

impl IceServer {
    /// A server without credentials (STUN).
    pub fn stun(url: &str) -> IceServer {
        IceServer {
            urls: url.to_string(),
            username: None,
            credential: None,
        }
    }

    /// Whether it is a TURN server (a relay; needs credentials).
    pub fn is_turn(&self) -> bool {
        self.urls.starts_with("turn:") || self.urls.starts_with("turns:")
    }

    fn check(&self) -> Result<(), IceError> {
        let url = &self.urls;
        let rest = ["stun:", "stuns:", "turn:", "turns:"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme));
        let printable = |s: &str| s.len() <= 256 && !s.chars().any(char::is_control);
        if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) || !printable(url) {
            return Err(IceError::BadUrl(sanitize(url, 80)));
        }
        if self.is_turn() && (self.username.is_none() || self.credential.is_none()) {
            return Err(IceError::NoCredentials(sanitize(url, 80)));
        }
        if !self.username.as_deref().is_none_or(printable) {
            return Err(IceError::BadText("username"));
        }
        if !self.credential.as_deref().is_none_or(printable) {
            return Err(IceError::BadText("credential"));
        }
        Ok(())
    }
}

/// Checks a list from anywhere (arguments, a server's document).
pub fn check(servers: &[IceServer]) -> Result<(), IceError> {
    if servers.len() > MAX_SERVERS {
        return Err(IceError::TooMany(servers.len()));
    }
    servers.iter().try_for_each(IceServer::check)
}

/// The list `--ice-server URL ... [--ice-username NAME --ice-credential SECRET]` makes: the
/// username and credential go with every TURN URL (STUN needs none).
pub fn from_args(
    urls: &[String],
    username: Option<&str>,
    credential: Option<&str>,
) -> Result<Vec<IceServer>, IceError> {
    let servers: Vec<IceServer> = urls
        .iter()
        .map(|url| {
            let mut server = IceServer::stun(url);
            if server.is_turn() {
                server.username = username.map(str::to_string);
                server.credential = credential.map(str::to_string);
            }
            server
        })
        .collect();
    check(&servers)?;
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_take_the_credentials_and_stun_urls_none() {
        let servers = from_args(
            &[
                "stun:10.0.0.5:3478".into(),
                "turn:10.0.0.5:3478?transport=udp".into(),
            ],
            Some("ada"),
            Some("s3cret"),
        )
        .unwrap();
        assert_eq!(servers[0], IceServer::stun("stun:10.0.0.5:3478"));
        assert_eq!(servers[1].username.as_deref(), Some("ada"));
        assert_eq!(servers[1].credential.as_deref(), Some("s3cret"));
        let json = serde_json::to_string(&servers).unwrap();
        assert_eq!(
            json,
            r#"[{"urls":"stun:10.0.0.5:3478"},{"urls":"turn:10.0.0.5:3478?transport=udp","username":"ada","credential":"s3cret"}]"#
        );
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        let turn = ["turn:relay.example:3478".to_string()];
        assert_eq!(
            from_args(&turn, None, None),
            Err(IceError::NoCredentials(turn[0].clone()))
        );
        for bad in ["http://x", "stun:", "turn:/x", "stun:a\u{1b}[2J"] {
            let err = from_args(&[bad.to_string()], Some("u"), Some("p")).unwrap_err();
            assert!(matches!(err, IceError::BadUrl(_)), "{bad}: {err}");
            assert!(!err.to_string().contains('\u{1b}'));
        }
        let many = vec!["stun:a".to_string(); MAX_SERVERS + 1];
        assert_eq!(from_args(&many, None, None), Err(IceError::TooMany(17)));
        assert_eq!(
            from_args(&turn, Some("ada\n"), Some("p")),
            Err(IceError::BadText("username"))
        );
    }
}
