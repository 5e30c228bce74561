//! HTTPS (`--tls-cert FILE --tls-key FILE`): the rustls server configuration, built from
//! PEM files with rustls's ring provider (the one the client uses too).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The server configuration: the certificate chain of `cert` (leaf first, as PEM
/// `CERTIFICATE` blocks), the first private key of `key` (PKCS#8, PKCS#1 or SEC1 PEM),
/// TLS 1.2 and 1.3, no client authentication. ALPN offers `h2` then `http/1.1`, or only
/// `http/1.1` when `http1_only`.
pub fn server_config(
    cert: &Path,
    key: &Path,
    http1_only: bool,
) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--tls-cert {}: no PEM CERTIFICATE block",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    // An explicit provider: with the workspace's feature unification both rustls
    // providers may be compiled in, and then there is no implicit default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("--tls-cert/--tls-key cannot be used together: {e}"))?;
    cfg.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../__test__/fixtures/tls")
            .join(name)
    }

    #[test]
    fn loads_the_test_certificate() {
        let cfg = server_config(&fixture("server.pem"), &fixture("server.key"), false)
            .expect("server.pem/server.key");
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let h1 = server_config(&fixture("server.pem"), &fixture("server.key"), true)
            .expect("server.pem/server.key");
        assert_eq!(h1.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn refuses_bad_files() {
        let e = server_config(&fixture("server.pem"), &fixture("wrong-name.key"), false)
            .expect_err("mismatched key");
        assert!(e.contains("cannot be used together"), "{e}");
        let e = server_config(&fixture("server.pem"), &fixture("missing.key"), false)
            .expect_err("missing key");
        assert!(e.starts_with("--tls-key "), "{e}");
        // A key file is not a certificate.
        let e = server_config(&fixture("server.key"), &fixture("server.key"), false)
            .expect_err("no certificate");
        assert!(e.contains("no PEM CERTIFICATE"), "{e}");
    }
}
