//! [`TlsSettings`]: TLS for the FIX listener — where its certificate chain, private key
//! and (optionally) client CA live, and [`TlsAcceptor`], the rustls server
//! configuration built from them at start.
//!
//! ```toml
//! tls = { cert = "/etc/tickwarp/fix.crt", key = "/etc/tickwarp/fix.key" }
//! # with client certificates, required and verified against this CA bundle:
//! tls = { cert = "fix.crt", key = "fix.key", client_ca = "clients-ca.crt" }
//! ```
//!
//! Files are PEM: `cert` the server's chain (leaf first), `key` its private key (PKCS#8,
//! PKCS#1 or SEC1), `client_ca` one or more CA certificates. With `client_ca`, every
//! client must present a certificate that chains to one of them (rustls'
//! `WebPkiClientVerifier`); without it, clients authenticate by password only. TLS 1.2
//! and 1.3 with rustls' safe defaults (the `ring` provider).
//!
//! A missing, unreadable or malformed file, a key that does not match the certificate,
//! or a CA file without a usable certificate fails [`TlsSettings::acceptor`] with a
//! [`TlsConfigError`] that names the key (e.g. `tls.key`) and the path.
//!
//! This module reads the three files and nothing else; it opens no socket.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// Bytes of TLS records rustls may hold for one connection before the acceptor stops
/// handing it plaintext (the session's bounded queue holds the rest).
pub(super) const TLS_BUFFER_LIMIT: usize = 64 << 10;

/// The `tls` table of a FIX listener (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain of the listener, leaf first.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to; when set, clients
    /// without a valid certificate are refused during the handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{key} = {}: {reason}", path.display())]
pub struct TlsConfigError {
    /// The configuration key, e.g. `tls.key` or `node[0].gateway.fix_tls.cert`.
    pub key: String,
    /// The file it names.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// A rustls server configuration for the FIX listener, built once at start.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    client_certs: bool,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("client_certs", &self.client_certs)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// The rustls configuration each accepted connection starts from.
    pub(super) fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certs(&self) -> bool {
        self.client_certs
    }
}

impl TlsSettings {
    /// Resolves relative paths against `base` (the configuration file's directory).
    pub fn resolve(&mut self, base: &Path) {
        for p in [&mut self.cert, &mut self.key] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = self.client_ca.as_mut() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Loads the files and builds the server configuration; `prefix` is the table's
    /// key in the configuration (`tls`), used in errors.
    pub fn acceptor(&self, prefix: &str) -> Result<TlsAcceptor, TlsConfigError> {
        let fail = |field: &str, path: &Path, reason: String| TlsConfigError {
            key: format!("{prefix}.{field}"),
            path: path.to_path_buf(),
            reason,
        };
        let certs = load_certs(&self.cert).map_err(|r| fail("cert", &self.cert, r))?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| fail("key", &self.key, pem_reason(&e, "private key")))?;
        let provider = Arc::new(crypto_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("cert", &self.cert, e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in load_certs(ca).map_err(|r| fail("client_ca", ca, r))? {
                    roots.add(cert).map_err(|e| {
                        fail("client_ca", ca, format!("not a usable CA certificate: {e}"))
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| fail("client_ca", ca, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => fail(
                "key",
                &self.key,
                format!("not the key of the certificate in {}", self.cert.display()),
            ),
            other => fail("key", &self.key, other.to_string()),
        })?;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            client_certs: self.client_ca.is_some(),
        })
    }
}

/// rustls' `ring` provider: TLS 1.3 and 1.2 suites, X25519 and NIST curves. Deprecated
/// since rustls 0.23.48 only because it offers no post-quantum key exchange; the
/// `aws-lc-rs` provider that does needs a C build of AWS-LC that the default build of
/// tickwarp avoids (no system library, quick builds on small hosts).
#[allow(deprecated)]
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Every certificate of a PEM file (at least one).
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_reason(&e, "certificate"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_reason(&e, "certificate"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".to_owned());
    }
    Ok(certs)
}

/// A PEM error as one clause, without repeating the path.
fn pem_reason(e: &rustls_pki_types::pem::Error, what: &str) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(io) => format!("cannot read: {io}"),
        Error::NoItemsFound => format!("no PEM {what} in the file"),
        other => format!("malformed PEM: {other:?}"),
    }
}
