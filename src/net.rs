//! Client networking shared by the space and PeerJS clients: URL checks, TLS (rustls with
//! ring; whom to trust is the endpoint's [`Trust`]: bundled web roots unless `--ca` or
//! `--pin` says otherwise), websocket connect, and the one HTTP request PeerJS needs (a GET
//! for an id).

use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub use crate::tls::trust::Trust;

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest websocket message accepted from any server.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// How long to wait before each reconnect: 500 ms, doubling up to 10 s, back to 500 ms once
/// a connection works again. Shared by the space and PeerJS clients so that both give a
/// restarting server the same breathing room.
#[derive(Debug, Clone)]
pub struct Backoff {
    current: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(500);
    pub const MAX: Duration = Duration::from_secs(10);

    /// The wait before the next attempt.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// An attempt failed: wait longer next time.
    pub fn grow(&mut self) {
        self.current = (self.current * 2).min(Self::MAX);
    }

    /// Waits the current delay, then lengthens the next one; false when `cancel` fired
    /// first (the caller should stop).
    pub async fn wait(&mut self, cancel: &tokio_util::sync::CancellationToken) -> bool {
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = tokio::time::sleep(self.current) => {}
        }
        self.grow();
        true
    }

    /// A connection worked: start from the shortest wait again.
    pub fn reset(&mut self) {
        self.current = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            current: Self::FIRST,
        }
    }
}

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection or request failed. Messages name the URL and what to check.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{url:?} is not a usable URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url} timed out after {0:?}", CONNECT_TIMEOUT)]
    Timeout { url: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent a malformed response: {reason}")]
    Malformed { url: String, reason: String },
}

/// A checked `http`/`https` (or `ws`/`wss`) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub secure: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Whom to trust for `https`/`wss` (the web's roots unless told otherwise).
    pub trust: Trust,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, NetError> {
        let bad = |reason: &str| NetError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("expected e.g. http://host:3000/space"))?;
        let secure = match uri.scheme_str() {
            Some("http" | "ws") => false,
            Some("https" | "wss") => true,
            Some(_) => {
                return Err(bad(
                    "only http://, https://, ws:// and wss:// are supported",
                ));
            }
            None => return Err(bad("it has no scheme; write http://…")),
        };
        let host = uri.host().ok_or_else(|| bad("it has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string());
        Ok(Endpoint {
            secure,
            host,
            port,
            path,
            trust: Trust::web(),
        })
    }

    /// The same endpoint, trusting `trust` for TLS.
    pub fn with_trust(mut self, trust: Trust) -> Endpoint {
        self.trust = trust;
        self
    }

    /// `host:port` with IPv6 hosts bracketed.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL with another scheme family and path.
    pub fn url(&self, websocket: bool, path: &str) -> String {
        let scheme = match (websocket, self.secure) {
            (false, false) => "http",
            (false, true) => "https",
            (true, false) => "ws",
            (true, true) => "wss",
        };
        format!("{scheme}://{}{path}", self.authority())
    }
}

/// Opens a websocket (TLS for `wss://`, trusting `trust`), within [`CONNECT_TIMEOUT`].
pub async fn connect_websocket(url: &str, trust: &Trust) -> Result<WsStream, NetError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        url,
        Some(config),
        true,
        Some(Connector::Rustls(tls_config(trust, url)?)),
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => Err(NetError::Timeout {
            url: url.to_string(),
        }),
        Ok(Err(e)) => Err(connect_failed(url, &e)),
        Ok(Ok((stream, _))) => Ok(stream),
    }
}

/// `trust`'s TLS configuration, for a connection to `url`.
fn tls_config(trust: &Trust, url: &str) -> Result<std::sync::Arc<rustls::ClientConfig>, NetError> {
    trust.config().map_err(|reason| NetError::Connect {
        url: url.to_string(),
        reason,
    })
}

/// A connection to `url` failed: a TLS refusal in words (see `tls::trust::explain`), else
/// what the error says.
fn connect_failed(url: &str, error: &(dyn std::error::Error + 'static)) -> NetError {
    NetError::Connect {
        url: url.to_string(),
        reason: crate::tls::trust::explain(error).unwrap_or_else(|| error.to_string()),
    }
}

/// GETs `url` and returns the body as text (at most `limit` bytes), over HTTP/1.1 (hyper's
/// client; TLS for `https://`, trusting `trust`); enough for the PeerJS id endpoint.
pub async fn http_get(url: &str, limit: usize, trust: &Trust) -> Result<String, NetError> {
    let endpoint = Endpoint::parse(url)?;
    let request = async {
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| NetError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        if endpoint.secure {
            let name =
                ServerName::try_from(endpoint.host.clone()).map_err(|e| NetError::BadUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
            let tls = tokio_rustls::TlsConnector::from(tls_config(trust, url)?)
                .connect(name, tcp)
                .await
                .map_err(|e| connect_failed(url, &e))?;
            exchange(tls, &endpoint, url, limit).await
        } else {
            exchange(tcp, &endpoint, url, limit).await
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, request)
        .await
        .map_err(|_| NetError::Timeout {
            url: url.to_string(),
        })?
}

/// One GET over an open stream, by hyper's HTTP/1.1 client: status 2xx, a body of at most
/// `limit` bytes (by length, chunks or close), as text.
async fn exchange<S>(
    stream: S,
    endpoint: &Endpoint,
    url: &str,
    limit: usize,
) -> Result<String, NetError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: &dyn std::fmt::Display| NetError::Connect {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let malformed = |reason: String| NetError::Malformed {
        url: url.to_string(),
        reason,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(&e))?;
    // The connection is driven on its own task until the response is read.
    let connection = tokio::spawn(connection);
    let request = http::Request::get(endpoint.path.as_str())
        .header(http::header::HOST, endpoint.authority())
        .header(
            http::header::USER_AGENT,
            concat!("packspaces/", env!("CARGO_PKG_VERSION")),
        )
        // One request per connection: an idle kept-alive connection would hold a server
        // that is shutting down gracefully (and its port) until it times out.
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(&e))?;
    let result = async {
        let response = sender.send_request(request).await.map_err(|e| {
            if e.is_parse() || e.is_incomplete_message() {
                malformed(e.to_string())
            } else {
                failed(&e)
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(NetError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| malformed(format!("body: {e}")))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| malformed("body is not text".into()))
    }
    .await;
    connection.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_defaults() {
        let e = Endpoint::parse("http://127.0.0.1:3000/CSC342").unwrap();
        assert_eq!(
            (e.secure, e.host.as_str(), e.port, e.path.as_str()),
            (false, "127.0.0.1", 3000, "/CSC342")
        );
        let e = Endpoint::parse("https://0.peerjs.com").unwrap();
        assert_eq!((e.secure, e.port, e.path.as_str()), (true, 443, "/"));
        let e = Endpoint::parse("http://[::1]:9000/x?y=1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.authority(), e.path.as_str()),
            ("::1", "[::1]:9000".to_string(), "/x?y=1")
        );
        assert_eq!(e.url(true, "/socket.io/"), "ws://[::1]:9000/socket.io/");
        for bad in ["", "localhost:3000", "ftp://x/", "http://", "not a url"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Serves one connection with `response` (after reading the request) on a free port;
    /// returns the URL to GET.
    async fn one_response(response: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(response).await;
        });
        format!("http://127.0.0.1:{port}/peerjs/id")
    }

    #[tokio::test]
    async fn gets_read_bodies_by_length_chunks_or_close_and_refuse_the_rest() {
        let get = |response| async move {
            http_get(&one_response(response).await, 100, &Trust::web()).await
        };
        let ok = get(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc").await;
        assert_eq!(ok.unwrap(), "abc");
        let chunked = get(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(chunked.unwrap(), "abcde");
        let close = get(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nxyz").await;
        assert_eq!(close.unwrap(), "xyz");
        assert!(matches!(
            get(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await,
            Err(NetError::Status { status: 404, .. })
        ));
        assert!(matches!(
            get(b"garbage\r\n\r\n").await,
            Err(NetError::Malformed { .. })
        ));
        assert!(
            get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .await
                .is_err()
        );
        let big: &'static [u8] = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{}",
                "x".repeat(500)
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let too_big = get(big).await.unwrap_err().to_string();
        assert!(too_big.contains("malformed"), "{too_big}");
        let text = get(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\xff\xfe")
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("not text"), "{text}");
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::default();
        let mut waits = Vec::new();
        for _ in 0..7 {
            waits.push(b.current().as_millis());
            b.grow();
        }
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
        b.reset();
        assert_eq!(b.current(), Backoff::FIRST);
    }
}
