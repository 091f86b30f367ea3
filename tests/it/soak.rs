//! A long run (issue 15): a `join` terminal watching bots come and go in one space, while
//! 200 members of another space of the same `serve` churn. The memory, open files, threads
//! and tokio tasks of both processes must stay flat after warm-up, and at the end the terminal's
//! list must match who is really there, and the server's lists must hold exactly the
//! members present. In CI it runs 150 s; `PACKSPACES_SOAK_SECS=3600` (bench/soak.sh) is
//! the hour the issue asks for, and `PACKSPACES_SOAK_CSV=FILE` keeps the samples.

use crate::common;
use crate::common::space_member::Member;
use crate::common::vterm::VirtualTerminal;

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use packspaces::space::SpaceEvent;

/// Bots present at any time (each churn step replaces the oldest).
const PEERS: usize = 6;
/// Members of the crowd space, and how many of them are replaced at each step.
const CROWD: usize = 200;
const CROWD_CHURN: usize = 50;
/// A process may use this much more (memory, files, threads) at the end than just after
/// warm-up; less is fine.
const GROWTH: f64 = 0.10;

/// What a process holds at one moment, read off /proc, and its tasks off its log.
#[derive(Debug, Clone, Copy)]
struct Usage {
    rss_kib: u64,
    fds: u64,
    threads: u64,
    tasks: u64,
}

/// The log level that makes a process log its task count (`logging::log_task_count`).
const LOG_TASKS: &str = "info,packspaces::tasks=debug";

/// The last task count a process logged (`... packspaces::tasks: tasks alive alive=N`).
fn tasks_logged(log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter(|l| l.contains(packspaces::logging::TASKS_TARGET))
        .find_map(|l| {
            l.rsplit_once("alive=")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

fn usage(pid: u32, log: &Path) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Usage {
        rss_kib: field("VmRSS:")?,
        fds,
        threads: field("Threads:")?,
        tasks: tasks_logged(log)?,
    })
}

/// A bot process with its name.
struct Bot {
    name: String,
    child: Child,
}

impl Bot {
    fn start(space: &str, n: usize) -> Bot {
        let name = format!("soak-{n:02}");
        let child = Command::new(env!("CARGO_BIN_EXE_packspaces"))
            .args(["bot", space, "--name", &name, "--no-audio"])
            .args(["--palette", &(n % 6).to_string(), "--udp-bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Bot { name, child }
    }

    /// Leaves as Ctrl-C would, so that it says goodbye to the space.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not leave on SIGTERM within 10 s", self.name);
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The run's length: `PACKSPACES_SOAK_SECS`, else 150 s.
fn run_for() -> Duration {
    let secs = std::env::var("PACKSPACES_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    Duration::from_secs(secs)
}

/// Joins the crowd member number `n`, waiting for its join to be confirmed. What it hears
/// afterwards (everyone else's comings and goings) is read and dropped, as a real client
/// would: an unread queue would stall its connection until the server dropped it.
async fn crowd_member(space: &str, n: usize) -> Member {
    let mut member = Member::join(space, &format!("crowd-{n:05}"));
    member.expect(SpaceEvent::Joined).await;
    let mut events = std::mem::replace(&mut member.events, tokio::sync::mpsc::channel(1).1);
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    member
}

/// Samples `(seconds, process, usage)` as CSV, if asked to keep them.
fn keep_csv(samples: &[(f64, &str, Usage)]) {
    let Ok(path) = std::env::var("PACKSPACES_SOAK_CSV") else {
        return;
    };
    let mut csv = String::from("seconds,process,rss_kib,fds,threads,tasks\n");
    for (t, process, u) in samples {
        csv.push_str(&format!(
            "{t:.0},{process},{},{},{},{}\n",
            u.rss_kib, u.fds, u.threads, u.tasks
        ));
    }
    std::fs::write(&path, csv).unwrap();
}

/// Reads one figure off a [`Usage`].
type Pick = fn(&Usage) -> u64;

/// Checks that nothing grew by more than [`GROWTH`] from the samples just after warm-up
/// (the second third of the run) to the last third, comparing medians.
fn assert_flat(samples: &[(f64, &str, Usage)], process: &str, run: Duration) {
    let third = run.as_secs_f64() / 3.0;
    let of = |from: f64, to: f64, pick: Pick| {
        let mut v: Vec<u64> = samples
            .iter()
            .filter(|(t, p, _)| *p == process && *t >= from && *t < to)
            .map(|(_, _, u)| pick(u))
            .collect();
        v.sort_unstable();
        assert!(
            !v.is_empty(),
            "no samples of {process} in {from:.0}-{to:.0} s"
        );
        v[v.len() / 2]
    };
    let picks: [(&str, Pick); 4] = [
        ("resident memory (KiB)", |u| u.rss_kib),
        ("open files", |u| u.fds),
        ("threads", |u| u.threads),
        ("tokio tasks", |u| u.tasks),
    ];
    for (what, pick) in picks {
        let after_warm_up = of(third, 2.0 * third, pick);
        let end = of(2.0 * third, f64::MAX, pick);
        assert!(
            end as f64 <= after_warm_up as f64 * (1.0 + GROWTH),
            "{process}: {what} grew from {after_warm_up} after warm-up to {end} at the end"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_session_and_a_churning_crowd_stay_flat() {
    let _turn = common::crowd_turn().await;
    let run = run_for();
    let logs = tempfile::tempdir().unwrap();
    let (serve_log, join_log) = (logs.path().join("serve.log"), logs.path().join("join.log"));
    let (mut serve, url) = common::serve_process_with_env(
        &["--log-file", serve_log.to_str().unwrap()],
        &[("PACKSPACES_LOG", LOG_TASKS)],
    );
    let space = format!("{url}soak");
    let crowd_space = format!("{url}crowd");
    let term = VirtualTerminal::spawn(
        &[
            env!("CARGO_BIN_EXE_packspaces"),
            "join",
            &space,
            "--name",
            "Watcher",
            "--no-audio",
            "--udp-bind",
            "127.0.0.1",
        ],
        160,
        48,
        &[
            ("PACKSPACES_LOG", LOG_TASKS),
            ("PACKSPACES_LOG_FILE", join_log.to_str().unwrap()),
        ],
    );
    let join_pid = term.pid().expect("the terminal's process id");
    let mut bots: VecDeque<Bot> = (0..PEERS).map(|n| Bot::start(&space, n)).collect();
    let mut crowd = VecDeque::new();
    for n in 0..CROWD {
        crowd.push_back(crowd_member(&crowd_space, n).await);
    }
    let (mut next_bot, mut next_member) = (PEERS, CROWD);

    // The churn's schedule: a step every twelfth of the run (at least 10 s, so that a new
    // bot's call is up before the step's sample), the sample taken just before each step,
    // when every bot has been in the space for a whole step. The steps keep to the clock,
    // not to the end of the previous churn, which takes longer on a busy machine.
    let step = (run / 12).max(Duration::from_secs(10));
    let steps = (run.as_secs_f64() / step.as_secs_f64()) as u32;
    let started = tokio::time::Instant::now();
    let mut samples: Vec<(f64, &str, Usage)> = Vec::new();
    for k in 1..steps {
        tokio::time::sleep_until(started + step * k).await;
        let t = started.elapsed().as_secs_f64();
        for (process, pid, log) in [
            ("serve", serve.id(), &serve_log),
            ("join", join_pid, &join_log),
        ] {
            let u = usage(pid, log).unwrap_or_else(|| {
                panic!("{process} is gone, or logged no task count, at {t:.0} s")
            });
            samples.push((t, process, u));
        }
        tokio::task::block_in_place(|| bots.pop_front().unwrap().stop());
        bots.push_back(Bot::start(&space, next_bot));
        next_bot += 1;
        for _ in 0..CROWD_CHURN {
            crowd.pop_front();
            crowd.push_back(crowd_member(&crowd_space, next_member).await);
            next_member += 1;
        }
    }
    keep_csv(&samples);
    assert!(samples.len() >= 2 * 6, "too few samples: {}", samples.len());

    // The terminal's list matches who is there: the bots present, each live, no one else.
    let present: Vec<String> = bots.iter().map(|b| b.name.clone()).collect();
    let gone: Vec<String> = (0..next_bot - PEERS)
        .map(|n| format!("soak-{n:02} "))
        .collect();
    // (Screen rows lose their trailing blanks: the list's title ends the row.)
    let here = format!(" {} here", PEERS + 1);
    let matches = |s: &vt100::Screen| {
        let text = s.contents();
        text.contains(&here)
            && present.iter().all(|b| text.contains(&format!("{b} live")))
            && gone.iter().all(|b| !text.contains(b.as_str()))
    };
    let shown = tokio::task::block_in_place(|| term.wait_for(Duration::from_secs(30), matches));
    assert!(
        shown.is_some(),
        "the terminal's list is not {present:?}:\n{}",
        term.screen().contents()
    );

    // The server holds exactly the crowd present: a newcomer is told of all of them.
    let mut newcomer = Member::join(&crowd_space, "newcomer");
    newcomer.expect(SpaceEvent::Joined).await;
    match newcomer.next().await {
        SpaceEvent::Members(list) => assert_eq!(list.len(), CROWD, "members the server lists"),
        other => panic!("wanted the member list, got {other:?}"),
    }

    assert_flat(&samples, "serve", run);
    assert_flat(&samples, "join", run);
    let _ = serve.kill();
    let _ = serve.wait();
}
