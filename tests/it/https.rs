//! `serve` over HTTPS: terminals that trust its certificate (by `--pin` or `--ca`) call each
//! other through it; every way of not trusting a server (no trust, a wrong pin, a plain
//! HTTP server, an expired certificate, one for another name) is a clear one-line error.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::media::testcard::PALETTES;
use packspaces::net::Trust;
use packspaces::server::{RunningServer, ServeOptions, start};
use packspaces::session::{CardSpec, Session, SessionConfig};
use packspaces::tls::certificate::{ServerCertificate, names_for};

async fn serve(certificate: Option<ServerCertificate>) -> RunningServer {
    let mut options = ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    options.tls = certificate.map(Arc::new);
    start(options).await.unwrap()
}

fn config(base: &str, name: &str, palette: Option<usize>, trust: &Trust) -> SessionConfig {
    let card = palette.map(|p| CardSpec {
        palette: PALETTES[p],
        ..CardSpec::default()
    });
    let config = common::loopback_session(base, "CSC342", name, card, &DEFAULT_PREFERENCE);
    common::trusting(config, trust)
}

/// A certificate for `names`, valid from `from_days` to `to_days` from now, written to
/// `dir` and loaded as `serve --tls-cert --tls-key` would.
fn certificate(dir: &Path, names: &[&str], from_days: i64, to_days: i64) -> ServerCertificate {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    ServerCertificate::load(&cert_path, &key_path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_that_trust_the_certificate_see_each_other_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let names = names_for(IpAddr::V4(Ipv4Addr::LOCALHOST), &[]);
    let (certificate, _) = ServerCertificate::self_signed(dir.path(), &names).unwrap();
    let pin = Trust::pinned(&certificate.fingerprint()).unwrap();
    let server = serve(Some(certificate)).await;
    let base = server.url();
    assert!(base.starts_with("https://"), "{base}");
    // One pins the fingerprint, the other trusts the certificate file as a CA.
    let ca = Trust::with_ca(&dir.path().join("self-signed-cert.pem")).unwrap();
    let bot = Session::start(config(&base, "Green", Some(1), &pin))
        .await
        .unwrap();
    let viewer = Session::start(config(&base, "Viewer", None, &ca))
        .await
        .unwrap();
    common::assert_first_frame_is_card(&viewer, &PALETTES[1]).await;
    bot.leave().await;
    viewer.leave().await;
    server.stop().await;
}

/// The error a session that trusts `trust` gets from the server at `base`.
async fn refusal(base: &str, trust: &Trust) -> String {
    match Session::start(config(base, "Terminal", None, trust)).await {
        Ok(session) => {
            session.leave().await;
            panic!("{base} was trusted with {trust:?}");
        }
        Err(e) => {
            let text = format!("{e:#}");
            assert!(!text.contains('\n'), "not one line: {text}");
            text
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_untrusted_server_is_a_clear_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = certificate(dir.path(), &["127.0.0.1"], -1, 30);
    let pin = good.fingerprint();
    let server = serve(Some(good)).await;
    let base = server.url();

    let no_trust = refusal(&base, &Trust::web()).await;
    assert!(
        no_trust.contains("not signed by an authority we trust") && no_trust.contains("--pin"),
        "{no_trust}"
    );
    let mut wrong = pin.replace(':', "");
    wrong.replace_range(0..2, if wrong.starts_with("00") { "11" } else { "00" });
    let wrong_pin = refusal(&base, &Trust::pinned(&wrong).unwrap()).await;
    assert!(
        wrong_pin.contains(&format!("fingerprint is {pin}, not the pinned")),
        "{wrong_pin}"
    );

    // https:// to a plain HTTP server.
    let plain = serve(None).await;
    let https_to_http = plain.url().replace("http://", "https://");
    let not_tls = refusal(&https_to_http, &Trust::pinned(&pin).unwrap()).await;
    assert!(not_tls.contains("does not speak TLS"), "{not_tls}");

    // A certificate that expired yesterday: refused by CA and by pin alike.
    let old_dir = tempfile::tempdir().unwrap();
    let expired = certificate(old_dir.path(), &["127.0.0.1"], -30, -1);
    let expired_pin = expired.fingerprint();
    let old = serve(Some(expired)).await;
    let ca = Trust::with_ca(&old_dir.path().join("cert.pem")).unwrap();
    let by_ca = refusal(&old.url(), &ca).await;
    assert!(by_ca.contains("has expired"), "{by_ca}");
    let by_pin = refusal(&old.url(), &Trust::pinned(&expired_pin).unwrap()).await;
    assert!(by_pin.contains("pinned certificate expired on"), "{by_pin}");

    // A certificate for another name, trusted as a CA: the name is checked.
    let other_dir = tempfile::tempdir().unwrap();
    let elsewhere = serve(Some(certificate(
        other_dir.path(),
        &["example.test"],
        -1,
        30,
    )))
    .await;
    let ca = Trust::with_ca(&other_dir.path().join("cert.pem")).unwrap();
    let wrong_name = refusal(&elsewhere.url(), &ca).await;
    assert!(
        wrong_name.contains("not valid for this host name"),
        "{wrong_name}"
    );

    for running in [server, plain, old, elsewhere] {
        running.stop().await;
    }
}
