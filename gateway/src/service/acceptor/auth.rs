//! Credentials of FIX sessions: argon2id PHC hashes, the verifier thread, and the
//! per-session cache of a verified password.
//!
//! argon2id is slow by design (one verification with the default parameters, 19 MiB and
//! two passes, takes tens of milliseconds), so it never runs on the gateway's thread:
//! [`Verifier`] owns one small thread fed through a bounded queue, and the acceptor
//! polls its answers. Once a session's password has verified, the acceptor keeps a
//! keyed BLAKE2b MAC of it (the key is random per process) and checks later Logons of
//! that session against the MAC in constant time, so a returning client logs on without
//! waiting behind a flood of wrong guesses, and a wrong guess against a cached session
//! costs microseconds.
//!
//! What this module must not do: log or keep a plaintext password, or compare secrets
//! with `==`.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2};
use blake2::Blake2bMac512;
use blake2::digest::{KeyInit, Mac};
use subtle::ConstantTimeEq;

/// How a session's Logon is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// Password (554) verified against this argon2id PHC string.
    Hash(String),
    /// No password: allowed only by an explicit `allow_no_password = true`.
    NoPassword,
}

/// Why a password could not be hashed or a hash is unusable.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Not a PHC string argon2 can read.
    #[error("password_hash is not a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash): {0}")]
    Malformed(String),
    /// A PHC string of another algorithm.
    #[error("password_hash uses {0}; only argon2id is accepted (make one with `tickwarp passwd`)")]
    NotArgon2id(String),
    /// Hashing failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Checks that `phc` is an argon2id PHC string with usable parameters.
pub fn check_phc(phc: &str) -> Result<(), CredentialError> {
    let hash = PasswordHash::new(phc).map_err(|e| CredentialError::Malformed(e.to_string()))?;
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return Err(CredentialError::NotArgon2id(hash.algorithm.to_string()));
    }
    argon2::Params::try_from(&hash).map_err(|e| CredentialError::Malformed(e.to_string()))?;
    if hash.hash.is_none() || hash.salt.is_none() {
        return Err(CredentialError::Malformed(
            "salt or hash missing".to_owned(),
        ));
    }
    Ok(())
}

/// Hashes `password` with argon2id (default parameters, random salt) into a PHC string.
pub fn hash_password(password: &[u8]) -> Result<String, CredentialError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| CredentialError::Hash(e.to_string()))
}

/// Verifies `password` against the PHC string `phc` (constant time in the password).
pub fn verify_password(phc: &str, password: &[u8]) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default().verify_password(password, &hash).is_ok(),
        Err(_) => false,
    }
}

/// A keyed MAC of a verified password, compared in constant time.
#[derive(Clone, Debug)]
pub(crate) struct PasswordMac {
    key: [u8; 64],
}

/// One MAC value.
pub(crate) type MacValue = [u8; 64];

impl PasswordMac {
    /// A MAC with a fresh random key.
    pub(crate) fn random() -> PasswordMac {
        let mut key = [0u8; 64];
        OsRng.fill_bytes(&mut key);
        PasswordMac { key }
    }

    /// The MAC of `password`.
    pub(crate) fn mac(&self, password: &[u8]) -> MacValue {
        let mut out = [0u8; 64];
        if let Ok(mut m) = <Blake2bMac512 as KeyInit>::new_from_slice(&self.key) {
            m.update(password);
            out.copy_from_slice(&m.finalize().into_bytes());
        }
        out
    }
}

/// `a == b` in constant time.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A verification request: `id` comes back with the answer.
struct Job {
    id: u64,
    phc: String,
    password: Vec<u8>,
}

/// The answer to a [`Job`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The request.
    pub(crate) id: u64,
    /// The password verified.
    pub(crate) ok: bool,
}

/// Why a verification was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// The queue is full: the Logon is told to retry.
    Full,
    /// The verifier thread is gone.
    Gone,
}

/// The argon2 verifier thread and its bounded queues (see the module docs).
#[derive(Debug)]
pub(crate) struct Verifier {
    jobs: SyncSender<Job>,
    verdicts: Receiver<Verdict>,
}

impl Verifier {
    /// Starts the thread with a queue of `capacity` requests.
    pub(crate) fn start(capacity: usize) -> std::io::Result<Verifier> {
        let (jobs, inbox) = sync_channel::<Job>(capacity);
        // Room for every queued job, the one running and the ones answered but not yet
        // polled: the thread never blocks on a full answer queue.
        let (outbox, verdicts) = sync_channel::<Verdict>(capacity.saturating_mul(2) + 2);
        thread::Builder::new()
            .name("fix-auth".to_owned())
            .spawn(move || {
                while let Ok(mut job) = inbox.recv() {
                    let ok = verify_password(&job.phc, &job.password);
                    job.password.fill(0);
                    if outbox.send(Verdict { id: job.id, ok }).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Verifier { jobs, verdicts })
    }

    /// Queues a verification of `password` against `phc`.
    pub(crate) fn submit(&self, id: u64, phc: &str, password: &[u8]) -> Result<(), QueueError> {
        let job = Job {
            id,
            phc: phc.to_owned(),
            password: password.to_vec(),
        };
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(mut job)) => {
                job.password.fill(0);
                Err(QueueError::Full)
            }
            Err(TrySendError::Disconnected(mut job)) => {
                job.password.fill(0);
                Err(QueueError::Gone)
            }
        }
    }

    /// The next answer, if one is ready.
    pub(crate) fn poll(&self) -> Option<Verdict> {
        self.verdicts.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify_round_trips_and_rejects_others() {
        let phc = hash_password(b"correct horse").unwrap_or_else(|e| panic!("{e}"));
        assert!(phc.starts_with("$argon2id$"));
        check_phc(&phc).unwrap_or_else(|e| panic!("{e}"));
        assert!(verify_password(&phc, b"correct horse"));
        assert!(!verify_password(&phc, b"correct horsf"));
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        assert!(matches!(
            check_phc("secret"),
            Err(CredentialError::Malformed(_))
        ));
        let argon2i = "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$Nt4GbyXNGXv0cxAvOXb7zQ";
        assert!(matches!(
            check_phc(argon2i),
            Err(CredentialError::NotArgon2id(_))
        ));
    }

    #[test]
    fn macs_differ_per_password_and_key() {
        let m = PasswordMac::random();
        assert!(ct_eq(&m.mac(b"a"), &m.mac(b"a")));
        assert!(!ct_eq(&m.mac(b"a"), &m.mac(b"b")));
        assert!(!ct_eq(&m.mac(b"a"), &PasswordMac::random().mac(b"a")));
    }
}
