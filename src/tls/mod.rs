//! TLS on both ends, with rustls and ring (no system OpenSSL): the certificate `serve`
//! loads or makes for itself (`certificate`), the listener that speaks TLS on its one port
//! (`listener`), and what a client trusts (`trust`: the web's roots, a `--ca` file, or a
//! `--pin`ned fingerprint). Of the rest of the crate it imports only `text` (untrusted text
//! shown back in errors).

pub mod certificate;
pub mod listener;
pub mod trust;

use base64::Engine as _;

/// SHA-256 of `der`.
fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Bytes as `openssl x509 -fingerprint` writes them: `AB:CD:…`.
fn colon_hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    pairs.join(":")
}

/// SHA-256 of `der`, as `openssl x509 -fingerprint -sha256` writes it: `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    colon_hex(&sha256(der))
}

/// SHA-256 of `der`, base64: the form Chromium's `--ignore-certificate-errors-spki-list`
/// takes (of a certificate's public key).
pub fn sha256_base64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha256(der))
}

/// Why a PEM file could not be read, in words.
fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("{other:?}"),
    }
}

/// The rustls provider everything here uses.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_look_like_openssls() {
        // SHA-256 of the empty input.
        assert_eq!(
            fingerprint(b""),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
        assert_eq!(
            sha256_base64(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
