//! `ShapedLink`: a user-space TCP relay on 127.0.0.1 that behaves like a slow real link in
//! front of a local server (e.g. sshd), for tests and benchmarks of packspaces over SSH.
//!
//! Each direction has a bottleneck queue of `bottleneck_bytes`, drained at `rate_bits_per_s`
//! (every packet of up to [`PACKET`] bytes takes its serialisation time), and a propagation
//! delay of `one_way_delay` after that: packets leave in order and arrive at
//! departure + delay. The relay reads from a sender only while its queue has room, and its
//! sockets have small kernel buffers, so back-pressure reaches the sender as on a real link
//! instead of megabytes piling up unseen in the kernel.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// The largest packet the link serialises at once (an Ethernet MTU's payload, roughly), so
/// a large read does not leave as one burst.
pub const PACKET: usize = 1448;

/// Kernel buffer size (each of SO_RCVBUF and SO_SNDBUF) on the relay's sockets.
const SOCKET_BUFFER: usize = 16 * 1024;

/// One direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Bottleneck rate; 0 means no limit (no serialisation time).
    pub rate_bits_per_s: u64,
    /// Propagation delay, added after serialisation.
    pub one_way_delay: Duration,
    /// How much the bottleneck queue holds before the relay stops reading the sender.
    pub bottleneck_bytes: usize,
}

impl Shape {
    /// `rate_bits_per_s` with `delay_ms` each way and a 16 KiB queue.
    pub fn new(rate_bits_per_s: u64, delay_ms: u64) -> Shape {
        Shape {
            rate_bits_per_s,
            one_way_delay: Duration::from_millis(delay_ms),
            bottleneck_bytes: 16 * 1024,
        }
    }
}

/// A running relay: connect to [`addr`](Self::addr) instead of the target. Dropping it
/// closes every connection and joins its threads.
pub struct ShapedLink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// A direction's shape, changeable while the link runs, and what it delivered.
struct Settings {
    rate: AtomicU64,
    delay_us: AtomicU64,
    bottleneck: AtomicUsize,
    delivered: AtomicU64,
}

impl Settings {
    fn new(shape: Shape) -> Settings {
        let s = Settings {
            rate: AtomicU64::new(0),
            delay_us: AtomicU64::new(0),
            bottleneck: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
        };
        s.set(shape);
        s
    }

    fn set(&self, shape: Shape) {
        self.rate.store(shape.rate_bits_per_s, Ordering::Relaxed);
        let delay_us = u64::try_from(shape.one_way_delay.as_micros()).unwrap_or(u64::MAX);
        self.delay_us.store(delay_us, Ordering::Relaxed);
        self.bottleneck
            .store(shape.bottleneck_bytes.max(1), Ordering::Relaxed);
    }

    fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::Relaxed))
    }

    /// Time to put `len` bytes on the wire.
    fn serialisation(&self, len: usize) -> Duration {
        match self.rate.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            rate => Duration::from_secs_f64(len as f64 * 8.0 / rate as f64),
        }
    }

    /// How much may be on the wire (departed, not yet delivered) before the link stops
    /// sending: what the rate puts there in two one-way delays and 100 ms more. Only
    /// reached when the receiver stops reading, which then stops the sender, as its TCP
    /// window would.
    fn wire_limit(&self) -> usize {
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return 4 << 20;
        }
        let bdp = rate as f64 / 8.0 * (self.delay().as_secs_f64() * 2.0 + 0.1);
        (bdp as usize).max(64 * 1024)
    }
}

struct Shared {
    stop: AtomicBool,
    down: Settings,
    up: Settings,
    /// Every live relayed socket, to shut down on drop (weak: a finished connection's
    /// sockets close when its threads end).
    sockets: Mutex<Vec<Weak<TcpStream>>>,
    /// Every live connection's pipes, to wake their threads on drop.
    pipes: Mutex<Vec<Weak<Pipe>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl ShapedLink {
    /// Listens on 127.0.0.1:0 and relays every connection to `target` (a loopback address),
    /// shaping target→client with `down` and client→target with `up`. The relay connects
    /// to the target one up-delay after the client connected (its SYN crossing the link),
    /// so the target's first bytes reach the client a round trip after it connected.
    pub fn start(target: SocketAddr, down: Shape, up: Shape) -> ShapedLink {
        assert!(
            target.ip().is_loopback(),
            "ShapedLink relays to loopback only"
        );
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        // Accepted sockets inherit these, and a receive buffer must be set before the
        // handshake to bound the window it advertises.
        small_buffers(&socket);
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(16).unwrap();
        let listener: TcpListener = socket.into();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            down: Settings::new(down),
            up: Settings::new(up),
            sockets: Mutex::new(Vec::new()),
            pipes: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("link-accept".into())
            .spawn(move || accept_loop(&listener, target, &s))
            .unwrap();
        ShapedLink {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Bytes delivered to clients (target→client) so far, over all connections.
    pub fn bytes_down(&self) -> u64 {
        self.shared.down.delivered.load(Ordering::Relaxed)
    }

    /// Bytes delivered to the target (client→target) so far, over all connections.
    pub fn bytes_up(&self) -> u64 {
        self.shared.up.delivered.load(Ordering::Relaxed)
    }

    /// Changes both rates; packets already being serialised keep their old rate.
    pub fn set_rate(&self, down_bits_per_s: u64, up_bits_per_s: u64) {
        let (down, up) = (&self.shared.down, &self.shared.up);
        down.rate.store(down_bits_per_s, Ordering::Relaxed);
        up.rate.store(up_bits_per_s, Ordering::Relaxed);
    }

    /// Changes both directions' whole shape.
    pub fn set_shape(&self, down: Shape, up: Shape) {
        self.shared.down.set(down);
        self.shared.up.set(up);
    }
}

impl Drop for ShapedLink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        // Connection threads may start others while we join them: repeat until none is left.
        loop {
            for s in lock(&self.shared.sockets).iter().filter_map(Weak::upgrade) {
                let _ = s.shutdown(Shutdown::Both);
            }
            for p in lock(&self.shared.pipes).iter().filter_map(Weak::upgrade) {
                p.close();
            }
            let threads = std::mem::take(&mut *lock(&self.shared.threads));
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn small_buffers(socket: &Socket) {
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    // A router forwards what it has; Nagle would add delays no real link has.
    let _ = socket.set_tcp_nodelay(true);
}

/// Keeps a weak reference to `item` in `list`, forgetting the ones that have gone.
fn register<T>(list: &Mutex<Vec<Weak<T>>>, item: &Arc<T>) {
    let mut list = lock(list);
    list.retain(|w| w.strong_count() > 0);
    list.push(Arc::downgrade(item));
}

fn spawn(shared: &Shared, name: &str, f: impl FnOnce() + Send + 'static) {
    let t = std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap();
    let mut threads = lock(&shared.threads);
    threads.retain(|t| !t.is_finished());
    threads.push(t);
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let s = Arc::clone(shared);
        spawn(shared, "link-connect", move || connect(client, target, &s));
    }
}

/// Opens the target side one up-delay after the client connected (its SYN crossing the
/// link), then starts both directions.
fn connect(client: TcpStream, target: SocketAddr, shared: &Arc<Shared>) {
    small_buffers(&Socket::from(client.try_clone().unwrap()));
    let client = Arc::new(client);
    let wait = Pipe::new();
    register(&shared.pipes, &wait);
    register(&shared.sockets, &client);
    if !wait.sleep_until(Instant::now() + shared.up.delay()) || shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    small_buffers(&socket);
    if socket
        .connect_timeout(&target.into(), Duration::from_secs(5))
        .is_err()
    {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let server = Arc::new(TcpStream::from(socket));
    register(&shared.sockets, &server);
    if shared.stop.load(Ordering::SeqCst) {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
        return;
    }
    let down = Pipe::new();
    let up = Pipe::new();
    register(&shared.pipes, &down);
    register(&shared.pipes, &up);
    let conn = Conn {
        client,
        server,
        pipes: [Arc::clone(&down), Arc::clone(&up)],
    };
    let conn = Arc::new(conn);
    for (pipe, is_down) in [(down, true), (up, false)] {
        let (c, p, s) = (Arc::clone(&conn), Arc::clone(&pipe), Arc::clone(shared));
        spawn(shared, "link-read", move || {
            let (src, settings) = if is_down {
                (&c.server, &s.down)
            } else {
                (&c.client, &s.up)
            };
            read_side(src, &p, settings, &c);
        });
        let (c, p, s) = (Arc::clone(&conn), Arc::clone(&pipe), Arc::clone(shared));
        spawn(shared, "link-shape", move || {
            let settings = if is_down { &s.down } else { &s.up };
            shape_side(&p, settings);
            drop(c);
        });
        let (c, p, s) = (Arc::clone(&conn), pipe, Arc::clone(shared));
        spawn(shared, "link-deliver", move || {
            let (dst, settings) = if is_down {
                (&c.client, &s.down)
            } else {
                (&c.server, &s.up)
            };
            deliver_side(dst, &p, settings, &c);
        });
    }
}

/// One relayed connection.
struct Conn {
    client: Arc<TcpStream>,
    server: Arc<TcpStream>,
    pipes: [Arc<Pipe>; 2],
}

impl Conn {
    /// An error on either side ends the whole connection, as a reset would.
    fn abort(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
        for p in &self.pipes {
            p.close();
        }
    }
}

enum Packet {
    Data(Vec<u8>),
    /// The sender closed its side: pass the FIN on, in order.
    End,
}

impl Packet {
    fn len(&self) -> usize {
        match self {
            Packet::Data(d) => d.len(),
            Packet::End => 0,
        }
    }
}

/// One direction of one connection: the bottleneck queue and the wire after it.
struct Pipe {
    state: Mutex<PipeState>,
    changed: Condvar,
}

#[derive(Default)]
struct PipeState {
    /// Waiting to be serialised, with when each arrived.
    queue: VecDeque<(Instant, Packet)>,
    /// Bytes in `queue`, including the packet being serialised.
    queued: usize,
    /// Serialised, propagating: due at the destination at the given time.
    wire: VecDeque<(Instant, Packet)>,
    wire_bytes: usize,
    closed: bool,
}

impl Pipe {
    fn new() -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(PipeState::default()),
            changed: Condvar::new(),
        })
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.changed.notify_all();
    }

    /// Waits on the pipe until `until` (a timed wait, not synchronisation: this is how
    /// long the link takes); false if the pipe closed first.
    fn sleep_until(&self, until: Instant) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits while `blocked` holds; None if the pipe closed.
    fn wait_while(
        &self,
        mut blocked: impl FnMut(&PipeState) -> bool,
    ) -> Option<MutexGuard<'_, PipeState>> {
        let state = lock(&self.state);
        let state = self
            .changed
            .wait_while(state, |s| !s.closed && blocked(s))
            .unwrap_or_else(|e| e.into_inner());
        (!state.closed).then_some(state)
    }
}

/// Reads the sender only while the bottleneck queue has room.
fn read_side(src: &TcpStream, pipe: &Pipe, settings: &Settings, conn: &Conn) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let Some(state) =
            pipe.wait_while(|s| s.queued >= settings.bottleneck.load(Ordering::Relaxed))
        else {
            return;
        };
        let room = settings
            .bottleneck
            .load(Ordering::Relaxed)
            .saturating_sub(state.queued)
            .clamp(1, buf.len());
        drop(state);
        let n = match (&*src).read(&mut buf[..room]) {
            Ok(n) => n,
            Err(_) => {
                conn.abort();
                return;
            }
        };
        let at = Instant::now();
        let mut state = lock(&pipe.state);
        if n == 0 {
            state.queue.push_back((at, Packet::End));
            drop(state);
            pipe.changed.notify_all();
            return;
        }
        for chunk in buf[..n].chunks(PACKET) {
            state.queue.push_back((at, Packet::Data(chunk.to_vec())));
        }
        state.queued += n;
        drop(state);
        pipe.changed.notify_all();
    }
}

/// Drains the queue at the rate: each packet departs when the one before it has, plus its
/// own serialisation time, then propagates for the delay.
fn shape_side(pipe: &Pipe, settings: &Settings) {
    let mut last_departure: Option<Instant> = None;
    loop {
        let Some(mut state) = pipe.wait_while(|s| s.queue.is_empty()) else {
            return;
        };
        let Some((arrived, packet)) = state.queue.pop_front() else {
            continue;
        };
        let mut start = last_departure.map_or(arrived, |d| d.max(arrived));
        // A receiver that stopped reading fills the wire; stop sending then, as its closed
        // TCP window would, and start again from when it made room.
        if state.wire_bytes > settings.wire_limit() {
            drop(state);
            if pipe
                .wait_while(|s| s.wire_bytes > settings.wire_limit())
                .is_none()
            {
                return;
            }
            start = start.max(Instant::now());
        } else {
            drop(state);
        }
        let len = packet.len();
        // From the previous departure, not from when this thread woke: no drift.
        let departure = start + settings.serialisation(len);
        last_departure = Some(departure);
        if !pipe.sleep_until(departure) {
            return;
        }
        let end = matches!(packet, Packet::End);
        let mut state = lock(&pipe.state);
        state.queued -= len;
        state.wire_bytes += len;
        state.wire.push_back((departure + settings.delay(), packet));
        drop(state);
        pipe.changed.notify_all();
        if end {
            return;
        }
    }
}

/// Hands each packet to the receiver when it is due.
fn deliver_side(dst: &TcpStream, pipe: &Pipe, settings: &Settings, conn: &Conn) {
    loop {
        let Some(state) = pipe.wait_while(|s| s.wire.is_empty()) else {
            return;
        };
        let Some(&(due, _)) = state.wire.front() else {
            continue;
        };
        drop(state);
        if !pipe.sleep_until(due) {
            return;
        }
        let Some((_, packet)) = lock(&pipe.state).wire.pop_front() else {
            return;
        };
        match packet {
            Packet::End => {
                let _ = dst.shutdown(Shutdown::Write);
                return;
            }
            Packet::Data(data) => {
                if (&*dst).write_all(&data).is_err() {
                    conn.abort();
                    return;
                }
                settings
                    .delivered
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                lock(&pipe.state).wire_bytes -= data.len();
                pipe.changed.notify_all();
            }
        }
    }
}
