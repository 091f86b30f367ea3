//! A member of a space through the space client (`packspaces::space::run`), with its
//! events to wait for.

use std::time::Duration;

use packspaces::space::{SpaceEvent, SpaceUrl, run};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub struct Member {
    pub events: mpsc::Receiver<SpaceEvent>,
    cancel: CancellationToken,
}

impl Member {
    pub fn join(url: &str, peer: &str) -> Member {
        let (tx, events) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        tokio::spawn(run(
            SpaceUrl::parse(url).unwrap(),
            peer.to_string(),
            tx,
            cancel.clone(),
        ));
        Member { events, cancel }
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
                matches!(got, SpaceEvent::Members(_) | SpaceEvent::Joined),
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
