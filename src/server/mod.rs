//! `packspaces serve`: the whole classroom backend on one port — Socket.IO spaces
//! (`spaces`), a PeerJS-compatible PeerServer under `/peerjs` (`peerserver`) and the
//! browser page at `/` and `/<space>` (`page`) with the libraries it loads (`vendor`),
//! and chat in a space (`chat`). With `--redis`, several instances share spaces and PeerJS
//! ids (`cluster`).

pub mod chat;
pub mod cluster;
pub mod page;
pub mod peerserver;
pub mod spaces;
pub mod vendor;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use socketioxide::SocketIo;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

use crate::space::protocol::is_valid_space;
use crate::tls::certificate::ServerCertificate;
use cluster::bus::Bus;
use cluster::presence::{self, LocalState};
use cluster::{Cluster, ClusterAdapter};
use page::PageOptions;
use peerserver::{PeerServer, PeerServerConfig};
use socketioxide_redis::RedisAdapterCtr;
use spaces::Spaces;

/// Where the PeerServer lives on our port.
pub const PEER_PATH: &str = "/peerjs";

/// Everything `serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    pub page: PageOptions,
    /// Files served under `/static/` (e.g. npm packages for an offline page).
    pub static_dir: Option<PathBuf>,
    pub peer: PeerServerConfig,
    /// HTTPS (and wss) on the same port with this certificate; plain HTTP without.
    pub tls: Option<Arc<ServerCertificate>>,
    /// Share spaces and PeerJS ids with other instances through this Redis (`redis://…`).
    pub redis: Option<String>,
}

impl ServeOptions {
    /// Defaults for a server on `bind:port` whose page loads the bundled libraries.
    pub fn new(bind: IpAddr, port: u16) -> Self {
        Self {
            bind,
            port,
            page: PageOptions {
                peerjs_script: page::DEFAULT_PEERJS_SCRIPT.to_string(),
                socketio_script: page::DEFAULT_SOCKETIO_SCRIPT.to_string(),
                peer_path: PEER_PATH.to_string(),
                peer_key: crate::peerjs::protocol::DEFAULT_KEY.to_string(),
                ice_servers: Vec::new(),
            },
            static_dir: None,
            peer: PeerServerConfig::default(),
            tls: None,
            redis: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr}: address already in use (another server? choose one with --port)"
    )]
    AddressInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("static directory {0} does not exist")]
    NoStaticDir(PathBuf),
    #[error(transparent)]
    Redis(#[from] cluster::bus::BusError),
    #[error("cannot share spaces through Redis: {0}")]
    Adapter(String),
}

/// The Socket.IO server, alone or in a cluster.
#[derive(Clone)]
enum SpacesIo {
    Alone(SocketIo),
    Clustered(SocketIo<ClusterAdapter>),
}

impl SpacesIo {
    async fn close(&self) {
        match self {
            SpacesIo::Alone(io) => io.close().await,
            SpacesIo::Clustered(io) => io.close().await,
        }
    }
}

/// A server running in the background; stops when [`RunningServer::stop`] is called or
/// the handle is dropped.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Serving HTTPS.
    pub secure: bool,
    pub spaces: Arc<Mutex<Spaces>>,
    io: SpacesIo,
    peer_server: PeerServer,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The base URL browsers and clients use.
    pub fn url(&self) -> String {
        format!("{}://{}/", self.scheme(), self.addr)
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }

    /// Closes every connection (websockets included) and stops accepting.
    pub async fn stop(mut self) {
        self.peer_server.close();
        // Bounded: closing waits on every socket's disconnect handling.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.io.close()).await;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.peer_server.close();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let io = self.io.clone();
            runtime.spawn(async move { io.close().await });
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds and starts serving in a background task.
pub async fn start(options: ServeOptions) -> Result<RunningServer, ServeError> {
    let addr = SocketAddr::new(options.bind, options.port);
    if let Some(dir) = &options.static_dir
        && !dir.is_dir()
    {
        return Err(ServeError::NoStaticDir(dir.clone()));
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            ServeError::AddressInUse { addr }
        } else {
            ServeError::Bind { addr, source: e }
        }
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Bind { addr, source: e })?;

    let cluster = match &options.redis {
        Some(url) => Some(Arc::new(Cluster::new(Bus::connect(url).await?))),
        None => None,
    };
    let spaces = Arc::new(Mutex::new(Spaces::default()));
    let peer_server = PeerServer::start(options.peer.clone(), cluster.clone());

    let page_html: Arc<str> = page::render(&options.page).into();
    let about = crate::discover::ServerInfo::new(
        &options.page.peer_path,
        &options.page.peer_key,
        &options.page.ice_servers,
    );
    let root_html = page_html.clone();
    let mut app = Router::new()
        .route("/", get(move || async move { Html(root_html.to_string()) }))
        .route(
            "/{space}",
            get(move |Path(space): Path<String>| async move { space_page(&space, &page_html) }),
        )
        .route(
            crate::discover::PATH,
            get(move || async move { axum::Json(about.clone()) }),
        )
        .route("/vendor/{name}", get(vendor::serve))
        .merge(peer_server.router(PEER_PATH));
    if let Some(dir) = &options.static_dir {
        app = app.nest_service("/static", ServeDir::new(dir));
    }
    let io_builder = SocketIo::builder()
        .max_payload(64 << 10)
        .max_buffer_size(256);
    let (app, io) = match &cluster {
        None => {
            let (layer, io) = io_builder.build_layer();
            spaces::attach(&io, spaces.clone());
            (app.layer(layer), SpacesIo::Alone(io))
        }
        Some(cluster) => {
            let adapter =
                RedisAdapterCtr::new_with_driver(cluster.bus.clone(), Cluster::adapter_config());
            let (layer, io) = io_builder
                .with_adapter::<ClusterAdapter>(adapter)
                .build_layer();
            spaces::attach_clustered(&io, spaces.clone(), cluster.clone())
                .await
                .map_err(ServeError::Adapter)?;
            start_presence(cluster, &io, &spaces, &peer_server);
            tracing::info!("instance {} sharing spaces through Redis", cluster.node);
            (app.layer(layer), SpacesIo::Clustered(io))
        }
    };

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = shutdown_rx.await;
    };
    let secure = options.tls.is_some();
    let task = match &options.tls {
        Some(certificate) => {
            let config = certificate.server_config();
            let listener = crate::tls::listener::TlsListener::new(listener, config)
                .map_err(|e| ServeError::Bind { addr, source: e })?;
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            })
        }
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }),
    };
    tracing::info!("serving on {addr}{}", if secure { " (TLS)" } else { "" });
    Ok(RunningServer {
        addr,
        secure,
        spaces,
        io,
        peer_server,
        shutdown: Some(shutdown_tx),
        task: Some(task),
    })
}

/// Keeps this instance's lease in the cluster, reaps dead instances and writes this
/// instance's members again after Redis comes back.
fn start_presence(
    cluster: &Arc<Cluster>,
    io: &SocketIo<ClusterAdapter>,
    spaces: &Arc<Mutex<Spaces>>,
    peer_server: &PeerServer,
) {
    let members = spaces.clone();
    let peers = peer_server.clone();
    let local = LocalState {
        members: Box::new(move || {
            members
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .all()
                .into_iter()
                .map(|(space, member)| presence::HeldMember {
                    space,
                    peer: member.peer_id,
                    name: member.name,
                })
                .collect()
        }),
        peers: Box::new(move || peers.realm().clients()),
    };
    let io = io.clone();
    let node = cluster.node.clone();
    presence::spawn(cluster, local, move |announcement| {
        let io = io.clone();
        let node = node.clone();
        async move { spaces::announce(&io, &node, announcement).await }
    });
}

fn space_page(space: &str, html: &str) -> Response {
    if is_valid_space(space) {
        Html(html.to_string()).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "No such space: space names are 1-64 letters, digits, '-' or '_'.\n",
        )
            .into_response()
    }
}

/// Runs `packspaces serve` until Ctrl-C: prints where browsers and terminals connect.
pub async fn run(options: ServeOptions) -> anyhow::Result<()> {
    let certificate = options.tls.clone();
    let server = start(options).await?;
    let url = server.url();
    let shown = if server.addr.ip().is_unspecified() {
        format!(
            "{}://<this machine's address>:{}/",
            server.scheme(),
            server.addr.port()
        )
    } else {
        url.clone()
    };
    println!("packspaces serve: listening on {url}");
    println!(
        "  browsers:  open {shown}<space>, e.g. {shown}CSC342 (or {shown} for the main space)"
    );
    let pin = certificate
        .as_ref()
        .map(|c| format!(" --pin {}", c.fingerprint()))
        .unwrap_or_default();
    println!("  terminals: packspaces join {shown}CSC342{pin}");
    if let Some(certificate) = &certificate {
        println!("  certificate SHA-256: {}", certificate.fingerprint());
        println!("    valid for: {}", certificate.names().join(", "));
        println!(
            "    Chromium without a warning: --ignore-certificate-errors-spki-list={}",
            certificate.spki_pin()
        );
    }
    println!("Press Ctrl-C to stop.");
    crate::signals::stop_requested().await;
    println!("stopping");
    server.stop().await;
    Ok(())
}
