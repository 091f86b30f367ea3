//! The browser page: the workshop page with its TODOs done, configured for this server.

use serde::Serialize;

use crate::ice::IceServer;

const TEMPLATE: &str = include_str!("../../assets/index.html");

/// The peerjs build the workshop page loads (1.3.1), bundled: see [`super::vendor`].
pub const DEFAULT_PEERJS_SCRIPT: &str = super::vendor::PEERJS_SCRIPT;
/// The socket.io client the page loads, bundled.
pub const DEFAULT_SOCKETIO_SCRIPT: &str = super::vendor::SOCKETIO_SCRIPT;

/// What the page needs to know about this server.
#[derive(Debug, Clone)]
pub struct PageOptions {
    pub peerjs_script: String,
    pub socketio_script: String,
    pub peer_path: String,
    pub peer_key: String,
    pub ice_servers: Vec<IceServer>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageConfig<'a> {
    peer_path: &'a str,
    peer_key: &'a str,
    ice_servers: &'a [IceServer],
}

/// Renders the page. Every substituted value is escaped for where it lands.
pub fn render(options: &PageOptions) -> String {
    let config = PageConfig {
        peer_path: &options.peer_path,
        peer_key: &options.peer_key,
        ice_servers: &options.ice_servers,
    };
    // `<` escaped so that no value can close the <script> element.
    let json = serde_json::to_string(&config)
        .unwrap_or_else(|_| "{}".to_string())
        .replace('<', "\\u003c");
    TEMPLATE
        .replace(
            "{{SOCKETIO_SCRIPT}}",
            &escape_attribute(&options.socketio_script),
        )
        .replace(
            "{{PEERJS_SCRIPT}}",
            &escape_attribute(&options.peerjs_script),
        )
        .replace("{{CONFIG_JSON}}", &json)
}

fn escape_attribute(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PageOptions {
        PageOptions {
            peerjs_script: "/static/peerjs.min.js".into(),
            socketio_script: "/static/socket.io.min.js".into(),
            peer_path: "/peerjs".into(),
            peer_key: "peerjs".into(),
            ice_servers: vec![IceServer::stun("stun:example.org:3478")],
        }
    }

    #[test]
    fn the_page_points_at_this_server() {
        let html = render(&options());
        assert!(html.contains(r#"<script src="/static/peerjs.min.js"></script>"#));
        assert!(html.contains(r#"<script src="/static/socket.io.min.js"></script>"#));
        assert!(html.contains(r#"{"peerPath":"/peerjs","peerKey":"peerjs","iceServers":[{"urls":"stun:example.org:3478"}]}"#));
        assert!(!html.contains("{{"));
    }

    #[test]
    fn values_cannot_break_out_of_their_place() {
        let mut o = options();
        o.peerjs_script = r#""><script>alert(1)</script>"#.into();
        o.ice_servers = vec![IceServer::stun("</script><script>alert(2)</script>")];
        let html = render(&o);
        assert!(!html.contains("<script>alert"));
    }
}
