//! HTTPS for the ceiling: a rustls client (ring provider) that trusts only the CA given with `--ca`
//! and offers only `http/1.1` in ALPN, like the clients under test.

use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

pub type Stream = StreamOwned<ClientConnection, TcpStream>;

#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Client {
    /// A client for the server called `host` (a DNS name or an IP address), trusting `ca` (PEM).
    pub fn new(ca: &Path, host: &str) -> io::Result<Client> {
        let bad =
            |e: &dyn std::fmt::Display| io::Error::other(format!("--ca {}: {e}", ca.display()));
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(&e))? {
            roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        }
        if roots.is_empty() {
            return Err(bad(&"no PEM CERTIFICATE block"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::other(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::other(format!("server name {host:?}: {e}")))?;
        Ok(Client {
            config: Arc::new(config),
            name,
        })
    }

    /// Completes the handshake on `tcp`.
    pub fn connect(&self, mut tcp: TcpStream) -> io::Result<Stream> {
        let mut conn = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        Ok(StreamOwned::new(conn, tcp))
    }
}
