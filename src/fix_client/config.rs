//! The configuration file of `tickwarp fix-client` (see deploy/fix-client.example.toml):
//! where to connect, the session's CompIDs and credentials, TLS, the sequence-number
//! store. Loading and checking only; it opens no socket. The password is never printed:
//! [`ClientConfig`]'s `Debug` leaves it out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    connect: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    sender_comp_id: String,
    target_comp_id: String,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    #[serde(default = "default_heartbeat")]
    heartbeat_secs: u64,
    account: Option<u32>,
    store: PathBuf,
    #[serde(default)]
    reset_on_logon: bool,
    tls: Option<TlsFile>,
}

fn default_heartbeat() -> u64 {
    30
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    ca: PathBuf,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
}

/// TLS towards the gateway.
#[derive(Clone, Debug)]
pub(super) struct TlsSettings {
    /// PEM CA certificates the gateway's certificate must chain to.
    pub(super) ca: PathBuf,
    /// PEM client certificate chain and its key, when the gateway asks for one.
    pub(super) client_cert: Option<(PathBuf, PathBuf)>,
    /// The name the gateway's certificate must carry (DNS name or IP address).
    pub(super) server_name: String,
}

/// A loaded, checked configuration.
#[derive(Clone)]
pub(super) struct ClientConfig {
    /// `host:port` to connect to.
    pub(super) connect: String,
    /// Our SenderCompID (49).
    pub(super) sender_comp_id: String,
    /// The gateway's CompID, our TargetCompID (56).
    pub(super) target_comp_id: String,
    /// Username (553) of the Logon.
    pub(super) username: Option<String>,
    /// Password (554) of the Logon.
    pub(super) password: Option<String>,
    /// HeartBtInt (108).
    pub(super) heartbeat: Duration,
    /// Account (1) sent on orders and required by RequestForPositions.
    pub(super) account: Option<u32>,
    /// Directory of the session store and the ClOrdID run counter.
    pub(super) store: PathBuf,
    /// Send ResetSeqNumFlag=Y (141) and start both sequence numbers at 1.
    pub(super) reset_on_logon: bool,
    /// TLS, if the gateway speaks it.
    pub(super) tls: Option<TlsSettings>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("connect", &self.connect)
            .field("sender_comp_id", &self.sender_comp_id)
            .field("target_comp_id", &self.target_comp_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("account", &self.account)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// `path` relative to the configuration file's directory unless absolute.
fn beside(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

impl ClientConfig {
    /// Loads and checks `path`; relative paths in it are relative to its directory.
    pub(super) fn load(path: &Path) -> Result<ClientConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: File =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let connect = match (file.connect, file.host, file.port) {
            (Some(c), None, None) => c,
            (None, Some(h), Some(p)) => format!("{h}:{p}"),
            (None, None, Some(p)) => format!("127.0.0.1:{p}"),
            (Some(_), _, _) => bail!("`connect` and `host`/`port` exclude each other"),
            (None, _, None) => bail!("`connect` (host:port) or `port` is required"),
        };
        let password = match (file.password, file.password_env, file.password_file) {
            (p, None, None) => p,
            (None, Some(var), None) => Some(
                std::env::var(&var)
                    .with_context(|| format!("password_env: environment variable {var}"))?,
            ),
            (None, None, Some(f)) => {
                let f = beside(base, &f);
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("password_file = {}", f.display()))?;
                Some(text.trim_end_matches(['\r', '\n']).to_owned())
            }
            _ => bail!("give at most one of `password`, `password_env`, `password_file`"),
        };
        if file.heartbeat_secs == 0 {
            bail!("heartbeat_secs must be at least 1");
        }
        for (key, id) in [
            ("sender_comp_id", &file.sender_comp_id),
            ("target_comp_id", &file.target_comp_id),
        ] {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
                bail!("{key} must be graphic ASCII, not empty");
            }
        }
        let host = connect.rsplit_once(':').map(|(h, _)| h).unwrap_or(&connect);
        let tls = match file.tls {
            None => None,
            Some(t) => {
                let client_cert = match (t.cert, t.key) {
                    (Some(c), Some(k)) => Some((beside(base, &c), beside(base, &k))),
                    (None, None) => None,
                    _ => bail!("tls.cert and tls.key go together"),
                };
                Some(TlsSettings {
                    ca: beside(base, &t.ca),
                    client_cert,
                    server_name: t
                        .server_name
                        .unwrap_or_else(|| host.trim_matches(['[', ']']).to_owned()),
                })
            }
        };
        Ok(ClientConfig {
            connect,
            sender_comp_id: file.sender_comp_id,
            target_comp_id: file.target_comp_id,
            username: file.username,
            password,
            heartbeat: Duration::from_secs(file.heartbeat_secs),
            account: file.account,
            store: beside(base, &file.store),
            reset_on_logon: file.reset_on_logon,
            tls,
        })
    }
}
