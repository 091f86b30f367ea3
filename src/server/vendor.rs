//! The browser libraries the page loads (peerjs, the socket.io client), built into the
//! binary and served under `/vendor/`, so that a classroom needs no internet. The files and
//! their licences are in `assets/vendor/`.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Where the page finds the bundled peerjs (1.3.1, the workshop's version).
pub const PEERJS_SCRIPT: &str = "/vendor/peerjs-1.3.1.min.js";
/// Where the page finds the bundled socket.io client.
pub const SOCKETIO_SCRIPT: &str = "/vendor/socket.io-4.8.4.min.js";

const FILES: [(&str, &[u8]); 2] = [
    (
        "peerjs-1.3.1.min.js",
        include_bytes!("../../assets/vendor/peerjs-1.3.1.min.js"),
    ),
    (
        "socket.io-4.8.4.min.js",
        include_bytes!("../../assets/vendor/socket.io-4.8.4.min.js"),
    ),
];

/// The bytes of a bundled file, by name.
pub fn file(name: &str) -> Option<&'static [u8]> {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, data)| *data)
}

/// `GET /vendor/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    match file(&name) {
        Some(data) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                // Versioned names: the content behind a name never changes.
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            data,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_page_scripts_are_bundled() {
        for path in [PEERJS_SCRIPT, SOCKETIO_SCRIPT] {
            let name = path.strip_prefix("/vendor/").unwrap_or(path);
            let data = file(name).unwrap_or_default();
            assert!(data.len() > 10_000, "{path} is bundled");
        }
        assert!(file("../Cargo.toml").is_none());
    }
}
