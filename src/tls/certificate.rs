//! The certificate `serve` speaks TLS with: PEM files it is given (`--tls-cert`,
//! `--tls-key`), or a self-signed one made for this machine's names and kept in a directory,
//! so that a restart reuses it and the fingerprint people pinned stays good.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A self-signed certificate is made valid for this long...
const VALID_DAYS: i64 = 365;
/// ...and made again when less than this is left.
const RENEW_DAYS: i64 = 30;

/// File names in the directory a self-signed certificate is kept in.
pub const SELF_SIGNED_CERT: &str = "self-signed-cert.pem";
pub const SELF_SIGNED_KEY: &str = "self-signed-key.pem";

/// Why a certificate could not be loaded or made. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not a usable certificate: {reason}")]
    Unusable { path: PathBuf, reason: String },
    #[error("the key does not fit the certificate: {0}")]
    KeyMismatch(String),
    #[error("cannot keep the self-signed certificate in {path}: {reason}")]
    Keep { path: PathBuf, reason: String },
    #[error("cannot make a certificate: {0}")]
    Make(String),
}

/// What [`ServerCertificate::self_signed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfSigned {
    /// Made now (there was none, it did not cover these names, or it was about to expire).
    Made,
    /// The one kept from an earlier start.
    Reused,
}

/// A certificate chain, checked against its private key, as rustls serves it.
#[derive(Debug)]
pub struct ServerCertificate {
    /// The leaf certificate (what fingerprints are of).
    leaf: CertificateDer<'static>,
    /// Facts read from the leaf certificate.
    facts: Facts,
    /// Built once, when loaded: building it is what checks that the key fits.
    config: Arc<rustls::ServerConfig>,
}

/// What we read from a leaf certificate.
#[derive(Debug, Clone)]
struct Facts {
    /// Unix time.
    not_after: i64,
    /// Subject alternative names: DNS names and IP addresses, as text.
    names: Vec<String>,
    /// SHA-256 of the subject public key info, base64.
    spki_pin: String,
}

impl Facts {
    fn read(der: &[u8]) -> Result<Facts, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        names.push(dns.to_string())
                    }
                    x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                        let ip = match bytes.len() {
                            4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                            _ => None,
                        };
                        names.extend(ip.map(|ip| ip.to_string()));
                    }
                    _ => {}
                }
            }
        }
        Ok(Facts {
            not_after: cert.validity().not_after.timestamp(),
            names,
            spki_pin: super::sha256_base64(cert.public_key().raw),
        })
    }
}

impl ServerCertificate {
    /// Loads a PEM certificate chain (leaf first) and its PEM private key.
    pub fn load(cert: &Path, key: &Path) -> Result<ServerCertificate, CertificateError> {
        let read = |path: &Path| {
            let path = path.to_path_buf();
            move |e: rustls::pki_types::pem::Error| CertificateError::Read {
                reason: super::pem_reason(&e),
                path,
            }
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(read(cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read(cert))?;
        let Some(leaf) = chain.first() else {
            return Err(CertificateError::NoCertificate {
                path: cert.to_path_buf(),
            });
        };
        let facts = Facts::read(leaf).map_err(|reason| CertificateError::Unusable {
            path: cert.to_path_buf(),
            reason,
        })?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(read(key))?;
        let leaf = leaf.clone();
        let mut config = rustls::ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| CertificateError::Make(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| CertificateError::KeyMismatch(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerCertificate {
            leaf,
            facts,
            config: Arc::new(config),
        })
    }

    /// The self-signed certificate kept in `dir` if it covers `names` and has more than
    /// 30 days left; otherwise a new one for `names`, kept there (the key readable
    /// only by us).
    pub fn self_signed(
        dir: &Path,
        names: &[String],
    ) -> Result<(ServerCertificate, SelfSigned), CertificateError> {
        let (cert_path, key_path) = (dir.join(SELF_SIGNED_CERT), dir.join(SELF_SIGNED_KEY));
        if let Ok(kept) = ServerCertificate::load(&cert_path, &key_path) {
            let left = kept.facts.not_after - time::OffsetDateTime::now_utc().unix_timestamp();
            if left > RENEW_DAYS * 86_400 && names.iter().all(|n| kept.covers(n)) {
                return Ok((kept, SelfSigned::Reused));
            }
        }
        let (cert_pem, key_pem) = make(names)?;
        let keep = |path: &Path, reason: &dyn std::fmt::Display| CertificateError::Keep {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| keep(dir, &e))?;
        write_private(&key_path, key_pem.as_bytes()).map_err(|e| keep(&key_path, &e))?;
        std::fs::write(&cert_path, cert_pem).map_err(|e| keep(&cert_path, &e))?;
        Ok((
            ServerCertificate::load(&cert_path, &key_path)?,
            SelfSigned::Made,
        ))
    }

    /// The leaf certificate's SHA-256 fingerprint (`AB:CD:…`), what `--pin` takes.
    pub fn fingerprint(&self) -> String {
        super::fingerprint(&self.leaf)
    }

    /// SHA-256 of the leaf's public key, base64: Chromium's
    /// `--ignore-certificate-errors-spki-list` value.
    pub fn spki_pin(&self) -> &str {
        &self.facts.spki_pin
    }

    /// The names (DNS and IP) the leaf certificate is valid for.
    pub fn names(&self) -> &[String] {
        &self.facts.names
    }

    fn covers(&self, name: &str) -> bool {
        self.facts
            .names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The rustls server configuration (HTTP/1.1 over TLS 1.2 or 1.3).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }
}

/// A new self-signed certificate for `names` (ECDSA P-256), as PEM certificate and key.
fn make(names: &[String]) -> Result<(String, String), CertificateError> {
    let failed = |e: rcgen::Error| CertificateError::Make(e.to_string());
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "packspaces serve");
    let now = time::OffsetDateTime::now_utc();
    // A day back, for clocks that are a little behind.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALID_DAYS);
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)
}

/// The names a self-signed certificate for a server bound to `bind` should cover: the
/// loopback names, the bound address when it is one, this machine's host name, and the
/// `extra` names given (`--tls-name`, e.g. the classroom address).
pub fn names_for(bind: IpAddr, extra: &[String]) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !bind.is_unspecified() {
        names.push(bind.to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        let dns = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if !host.is_empty() && host.chars().all(dns) {
            names.push(host.to_string());
        }
    }
    names.extend(extra.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_kept_and_reused_until_the_names_change() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (first, made) = ServerCertificate::self_signed(dir.path(), &names).unwrap();
        assert_eq!(made, SelfSigned::Made);
        assert_eq!(first.names(), names.as_slice());
        let (again, reused) = ServerCertificate::self_signed(dir.path(), &names).unwrap();
        assert_eq!(reused, SelfSigned::Reused);
        assert_eq!(again.fingerprint(), first.fingerprint());
        assert_eq!(again.spki_pin(), first.spki_pin());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(SELF_SIGNED_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
        // A new name (the classroom address) makes a new one.
        let more = [names.clone(), vec!["10.0.0.5".to_string()]].concat();
        let (other, made) = ServerCertificate::self_signed(dir.path(), &more).unwrap();
        assert_eq!(made, SelfSigned::Made);
        assert_ne!(other.fingerprint(), first.fingerprint());
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = ServerCertificate::load(&missing, &missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let err = ServerCertificate::load(&garbage, &garbage).unwrap_err();
        assert!(
            matches!(err, CertificateError::NoCertificate { .. }),
            "{err}"
        );
        // A key from another certificate.
        let (a, _) = make(&["localhost".to_string()]).unwrap();
        let (_, other_key) = make(&["localhost".to_string()]).unwrap();
        let (cert, key) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
        std::fs::write(&cert, a).unwrap();
        std::fs::write(&key, other_key).unwrap();
        let err = ServerCertificate::load(&cert, &key).unwrap_err();
        assert!(matches!(err, CertificateError::KeyMismatch(_)), "{err}");
    }

    #[test]
    fn names_cover_loopback_and_the_bound_address_once() {
        let names = names_for("192.168.1.20".parse().unwrap(), &["LOCALHOST".into()]);
        assert_eq!(
            names[..4],
            ["localhost", "127.0.0.1", "::1", "192.168.1.20"]
        );
        assert_eq!(
            names
                .iter()
                .filter(|n| n.eq_ignore_ascii_case("localhost"))
                .count(),
            1
        );
        let any = names_for("0.0.0.0".parse().unwrap(), &[]);
        assert!(!any.contains(&"0.0.0.0".to_string()));
    }
}
