//! A member of a space through the space client (`packspaces::space::run`), with its
//! events to wait for.

use std::time::Duration;

use packspaces::space::{Joiner, SpaceEvent, SpaceUrl, run};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub struct Member {
    pub events: mpsc::Receiver<SpaceEvent>,
    say: mpsc::Sender<String>,
    cancel: CancellationToken,
}

impl Member {
    pub fn join(url: &str, peer: &str) -> Member {
        Member::join_as(url, peer, None)
    }

    /// Joins giving the space server a name.
    pub fn join_as(url: &str, peer: &str, name: Option<&str>) -> Member {
        let (tx, events) = mpsc::channel(64);
        let (say, said) = mpsc::channel(8);
        let cancel = CancellationToken::new();
        let joiner = Joiner {
            peer_id: peer.to_string(),
            name: name.map(str::to_string),
        };
        tokio::spawn(run(
            SpaceUrl::parse(url).unwrap(),
            joiner,
            tx,
            said,
            cancel.clone(),
        ));
        Member {
            events,
            say,
            cancel,
        }
    }

    /// Says `text` in the space's chat.
    pub async fn say(&self, text: &str) {
        self.say.send(text.to_string()).await.unwrap();
    }

    /// The next event that is not a member list (those are checked where they matter).
    pub async fn next(&mut self) -> SpaceEvent {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the client still runs")
    }

    pub async fn expect(&mut self, want: SpaceEvent) {
        loop {
            let got = self.next().await;
            if got == want {
                return;
            }
            assert!(
                matches!(
                    got,
                    SpaceEvent::Members(_) | SpaceEvent::Joined | SpaceEvent::Names(_)
                ),
                "wanted {want:?}, got {got:?}"
            );
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
