//! What a client trusts when it speaks TLS (`wss://`, `https://`): the web's roots
//! (bundled, no system store), plus a CA certificate file (`--ca`), or exactly one
//! certificate by its SHA-256 fingerprint (`--pin`, what `serve --tls self-signed` prints).

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Why a `--ca` or `--pin` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("--ca {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error(
        "--pin {0:?}: expected a SHA-256 fingerprint, 64 hex digits (colons allowed), as `serve` prints it"
    )]
    Pin(String),
    #[error("TLS is unavailable: {0}")]
    Tls(String),
}

/// How a client decides whether to trust a server's certificate. Cheap to clone.
#[derive(Clone)]
pub struct Trust {
    what: What,
    /// An error only if ring could not make a TLS configuration at all.
    config: Result<Arc<ClientConfig>, String>,
}

/// What a [`Trust`] was made from (it compares by this).
#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    Web,
    Ca(PathBuf),
    Pin([u8; 32]),
}

impl PartialEq for Trust {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what
    }
}

impl Eq for Trust {}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.what {
            What::Web => write!(f, "Trust::Web"),
            What::Ca(path) => write!(f, "Trust::Ca({})", path.display()),
            What::Pin(pin) => write!(f, "Trust::Pin({})", super::colon_hex(pin)),
        }
    }
}

impl Default for Trust {
    fn default() -> Self {
        Trust::web()
    }
}

fn web_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, TrustError> {
    ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError::Tls(e.to_string()))
}

impl Trust {
    /// The web's roots: what a browser trusts.
    pub fn web() -> Trust {
        static WEB: LazyLock<Result<Arc<ClientConfig>, String>> = LazyLock::new(|| {
            builder()
                .map(|b| Arc::new(b.with_root_certificates(web_roots()).with_no_client_auth()))
                .map_err(|e| e.to_string())
        });
        Trust {
            what: What::Web,
            config: WEB.clone(),
        }
    }

    /// The web's roots plus every certificate in the PEM file at `path` (a CA, or the
    /// server's own self-signed certificate). Names and expiry are checked as usual.
    pub fn with_ca(path: &Path) -> Result<Trust, TrustError> {
        let bad = |reason: String| TrustError::Ca {
            path: path.to_path_buf(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(super::pem_reason(&e)))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(super::pem_reason(&e)))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        let mut roots = web_roots();
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| bad(format!("not a usable certificate: {e}")))?;
        }
        let config = builder()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Trust {
            what: What::Ca(path.to_path_buf()),
            config: Ok(Arc::new(config)),
        })
    }

    /// Exactly the certificate whose SHA-256 fingerprint is `pin` (hex, colons allowed):
    /// any name, any issuer, but it must not have expired.
    pub fn pinned(pin: &str) -> Result<Trust, TrustError> {
        let digits: String = pin.chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(TrustError::Pin(shown(pin)));
        }
        let mut want = [0u8; 32];
        for (i, byte) in want.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[i * 2..i * 2 + 2], 16)
                .map_err(|_| TrustError::Pin(shown(pin)))?;
        }
        let verifier = PinVerifier {
            want,
            provider: super::provider(),
        };
        let config = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Trust {
            what: What::Pin(want),
            config: Ok(Arc::new(config)),
        })
    }

    /// `--ca` or `--pin` (at most one), else the web's roots.
    pub fn from_options(ca: Option<&Path>, pin: Option<&str>) -> Result<Trust, TrustError> {
        match (ca, pin) {
            (Some(ca), None) => Trust::with_ca(ca),
            (None, Some(pin)) => Trust::pinned(pin),
            // clap keeps them apart; the CA wins if both reach here.
            (Some(ca), Some(_)) => Trust::with_ca(ca),
            (None, None) => Ok(Trust::web()),
        }
    }

    /// The rustls client configuration, or why there is none.
    pub fn config(&self) -> Result<Arc<ClientConfig>, String> {
        self.config.clone()
    }
}

/// What went wrong in a TLS handshake, in words a user can act on, if `error` (or what
/// caused it) is a rustls error.
pub fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(explain_rustls(tls));
        }
        // io::Error hides what it wraps from source(); look inside.
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(explain_rustls(tls));
        }
        cause = e.source();
    }
    None
}

fn explain_rustls(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    const HOW: &str = "for a self-signed server, pass --pin with the fingerprint `serve` prints, or --ca with its certificate";
    match error {
        rustls::Error::InvalidCertificate(reason) => match reason {
            C::UnknownIssuer => format!("its certificate is not signed by an authority we trust ({HOW})"),
            C::Expired | C::ExpiredContext { .. } => "its certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "its certificate is not valid yet (is this clock right?)".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "its certificate is not valid for this host name (connect by a name it lists, or use --pin)".into()
            }
            C::Other(other) => format!("its certificate is refused: {}", other.0),
            other => format!("its certificate is refused: {other:?}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "it does not speak TLS (an http:// server?)".into()
        }
        other => format!("TLS failed: {other}"),
    }
}

/// A pin shown back in an error: safe for the terminal and short.
fn shown(pin: &str) -> String {
    crate::text::sanitize(pin, 100)
}

/// Accepts exactly one certificate, by fingerprint; signatures are checked as usual.
#[derive(Debug)]
struct PinVerifier {
    want: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

/// Why a pinned server was refused, as a rustls certificate error.
#[derive(Debug)]
struct PinMismatch(String);

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PinMismatch {}

fn refuse(reason: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(PinMismatch(reason)),
    )))
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = super::sha256(end_entity);
        if got != self.want {
            return Err(refuse(format!(
                "its SHA-256 fingerprint is {}, not the pinned {}",
                super::colon_hex(&got),
                super::colon_hex(&self.want)
            )));
        }
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity)
            .map_err(|e| refuse(format!("the pinned certificate does not parse: {e}")))?;
        let validity = cert.validity();
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now > validity.not_after.timestamp() {
            return Err(refuse(format!(
                "the pinned certificate expired on {} (a new one has a new fingerprint)",
                validity.not_after
            )));
        }
        if now < validity.not_before.timestamp() {
            return Err(refuse(format!(
                "the pinned certificate is not valid before {} (is this clock right?)",
                validity.not_before
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_64_hex_digits_with_or_without_colons() {
        let plain = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let with_colons = crate::tls::fingerprint(b"");
        assert_eq!(
            Trust::pinned(plain).unwrap(),
            Trust::pinned(&with_colons).unwrap()
        );
        for bad in [
            "",
            "abc",
            &plain[1..],
            &format!("{plain}00"),
            "zz".repeat(32).as_str(),
        ] {
            let err = Trust::pinned(bad).unwrap_err();
            assert!(err.to_string().contains("64 hex digits"), "{err}");
        }
        let err = Trust::pinned("\x1b[2Jx").unwrap_err().to_string();
        assert!(!err.contains('\x1b'), "{err:?}");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = Trust::with_ca(&empty).unwrap_err().to_string();
        assert!(
            err.contains("empty.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = Trust::with_ca(&dir.path().join("nope.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.pem"), "{err}");
    }
}
