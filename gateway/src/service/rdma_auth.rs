//! Authentication of RDMA order-entry peers: the [`Credential`] a client puts in its MPA
//! private data (after the channel parameters), the argon2id PHC token hashes of the
//! configuration ([`TokenTable`]), and a per-address [`FailureThrottle`].
//!
//! Credential layout (little-endian, at most 8 + [`MAX_TOKEN`] bytes):
//!
//! ```text
//!  0         1     2              4               8
//!  +---------+-----+--------------+---------------+----------------+
//!  | version | 0   | token_len u16| account u32   | token bytes... |
//!  +---------+-----+--------------+---------------+----------------+
//! ```
//!
//! One verification runs argon2id with the parameters of the stored hash (the default,
//! m = 19 MiB, t = 2, p = 1, takes tens of milliseconds here). It runs on the RDMA accept
//! thread, never in the duty cycle, one at a time, in one working memory the table
//! allocates at its first verification and keeps (as large as the largest `m` of its
//! hashes: 19 MiB by default), so verifications cost no further memory; a peer address
//! that failed is locked out for a growing delay before it may try again, so guessing
//! costs the attacker time, not the gateway memory. Hashes are checked at load: argon2id only,
//! memory at most [`MAX_M_COST_KIB`] KiB, so no configuration can make one verification
//! unbounded.
//!
//! This module must not read a clock (time is an argument) or log credentials.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use argon2::password_hash::Output;
use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::OsRng;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version};
use tickwarp_runtime::Nanos;
use tickwarp_wire::AccountId;

/// Credential layout version.
pub const CREDENTIAL_VERSION: u8 = 1;
/// Longest token accepted, bytes.
pub const MAX_TOKEN: usize = 256;
/// Bytes before the token.
const HEADER: usize = 8;
/// Largest argon2 memory cost accepted in a configured hash (KiB).
pub const MAX_M_COST_KIB: u32 = 256 * 1024;
/// Largest argon2 time cost accepted in a configured hash.
pub const MAX_T_COST: u32 = 16;
/// Largest argon2 parallelism accepted in a configured hash.
pub const MAX_P_COST: u32 = 8;

/// Why a credential could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No credential in the private data.
    #[error("no credential")]
    Missing,
    /// Fewer bytes than the header and token need.
    #[error("credential truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// Unknown layout version.
    #[error("unsupported credential version {0}")]
    Version(u8),
    /// The token is longer than [`MAX_TOKEN`].
    #[error("token of {0} bytes, at most 256 allowed")]
    TooLong(usize),
}

/// An account id and its secret token, as sent by a client.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    /// The account the client trades for.
    pub account: AccountId,
    /// The secret.
    pub token: &'a [u8],
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("account", &self.account)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl<'a> Credential<'a> {
    /// Encodes the credential (layout in the module docs).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CredentialError> {
        let len = u16::try_from(self.token.len())
            .ok()
            .filter(|&n| usize::from(n) <= MAX_TOKEN)
            .ok_or(CredentialError::TooLong(self.token.len()))?;
        let mut out = Vec::with_capacity(HEADER + self.token.len());
        out.push(CREDENTIAL_VERSION);
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.account.0.to_le_bytes());
        out.extend_from_slice(self.token);
        Ok(out)
    }

    /// Decodes a credential; trailing bytes are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Credential<'a>, CredentialError> {
        if bytes.is_empty() {
            return Err(CredentialError::Missing);
        }
        let Some(h) = bytes.first_chunk::<HEADER>() else {
            return Err(CredentialError::Truncated {
                need: HEADER,
                have: bytes.len(),
            });
        };
        if h[0] != CREDENTIAL_VERSION || h[1] != 0 {
            return Err(CredentialError::Version(h[0]));
        }
        let len = usize::from(u16::from_le_bytes([h[2], h[3]]));
        if len > MAX_TOKEN {
            return Err(CredentialError::TooLong(len));
        }
        let token = bytes
            .get(HEADER..HEADER + len)
            .ok_or(CredentialError::Truncated {
                need: HEADER + len,
                have: bytes.len(),
            })?;
        Ok(Credential {
            account: AccountId(u32::from_le_bytes([h[4], h[5], h[6], h[7]])),
            token,
        })
    }
}

/// Why a token hash is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Not a PHC string argon2 understands.
    #[error("not an argon2 PHC string: {0}")]
    Phc(String),
    /// Not argon2id.
    #[error("algorithm {0}, only argon2id is accepted")]
    Algorithm(String),
    /// A cost parameter outside the accepted range.
    #[error("argon2 {name} = {value} is out of range 1..={max}")]
    Cost {
        /// `m`, `t` or `p`.
        name: &'static str,
        /// The value in the hash.
        value: u32,
        /// The largest accepted.
        max: u32,
    },
}

/// Checks that `phc` is an argon2id PHC string with bounded costs.
pub fn check_hash(phc: &str) -> Result<(), HashError> {
    let hash = PasswordHash::new(phc).map_err(|e| HashError::Phc(e.to_string()))?;
    if Algorithm::try_from(hash.algorithm) != Ok(Algorithm::Argon2id) {
        return Err(HashError::Algorithm(hash.algorithm.to_string()));
    }
    let params = Params::try_from(&hash).map_err(|e| HashError::Phc(e.to_string()))?;
    for (name, value, max) in [
        ("m", params.m_cost(), MAX_M_COST_KIB),
        ("t", params.t_cost(), MAX_T_COST),
        ("p", params.p_cost(), MAX_P_COST),
    ] {
        if !(1..=max).contains(&value) {
            return Err(HashError::Cost { name, value, max });
        }
    }
    Ok(())
}

/// Hashes `token` as an argon2id PHC string with the default parameters and a random
/// salt (what `token_hash` in `[[rdma.tokens]]` holds).
pub fn hash_token(token: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(token, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Phc(e.to_string()))
}

/// The configured token hash of each account.
#[derive(Clone, Default)]
pub struct TokenTable {
    hashes: HashMap<AccountId, String>,
    /// Verified against when the account is unknown, so the answer takes as long.
    decoy: Option<String>,
    /// argon2 working memory, reused by every verification.
    blocks: Vec<Block>,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut accounts: Vec<_> = self.hashes.keys().collect();
        accounts.sort();
        f.debug_struct("TokenTable")
            .field("accounts", &accounts)
            .finish()
    }
}

impl TokenTable {
    /// A table of `(account, PHC hash)` pairs; every hash is checked.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (AccountId, &'a str)>,
    ) -> Result<TokenTable, HashError> {
        let mut hashes = HashMap::new();
        for (account, phc) in entries {
            check_hash(phc)?;
            hashes.insert(account, phc.to_owned());
        }
        let decoy = hashes.values().next().cloned();
        Ok(TokenTable {
            hashes,
            decoy,
            blocks: Vec::new(),
        })
    }

    /// True when `credential` names a configured account and its token matches
    /// (compared in constant time). Costs one argon2id computation whether or not the
    /// account exists.
    pub fn verify(&mut self, credential: &Credential<'_>) -> bool {
        let (phc, known) = match self.hashes.get(&credential.account) {
            Some(phc) => (phc, true),
            None => match &self.decoy {
                Some(phc) => (phc, false),
                None => return false,
            },
        };
        let ok = argon2id_matches(phc, credential.token, &mut self.blocks);
        ok && known
    }
}

/// Recomputes the argon2id hash of `token` with the salt and parameters of `phc` in
/// `blocks` (grown to the hash's memory cost if needed) and compares in constant time.
fn argon2id_matches(phc: &str, token: &[u8], blocks: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let version = hash
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let need = params.block_count();
    if blocks.len() < need {
        blocks.resize(need, Block::default());
    }
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let Some(memory) = blocks.get_mut(..need) else {
        return false;
    };
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    if argon
        .hash_password_into_with_memory(token, salt, out, memory)
        .is_err()
    {
        return false;
    }
    Output::new(out).is_ok_and(|o| o == expected)
}

impl TokenTable {
    /// Bytes of argon2 working memory held (0 until the first verification).
    pub fn working_memory(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }
}

/// Consecutive failures of one address and when it may try again.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    until: Nanos,
}

/// Per-address lockout after failed authentications: after the `n`th consecutive
/// failure an address waits `base × 2^(n-1)`, at most `max`, before its next attempt is
/// verified; attempts during the wait are refused without verification. At most
/// `capacity` addresses are remembered (expired entries go first, then the one whose
/// lockout ends soonest).
#[derive(Debug)]
pub struct FailureThrottle {
    entries: HashMap<IpAddr, Failures>,
    base: Duration,
    max: Duration,
    capacity: usize,
}

impl FailureThrottle {
    /// A throttle with the given first delay, longest delay and address capacity.
    pub fn new(base: Duration, max: Duration, capacity: usize) -> FailureThrottle {
        FailureThrottle {
            entries: HashMap::new(),
            base,
            max,
            capacity: capacity.max(1),
        }
    }

    /// `Err(wait)` when `ip` is locked out at `now`.
    pub fn check(&self, ip: IpAddr, now: Nanos) -> Result<(), Duration> {
        match self.entries.get(&ip) {
            Some(f) if f.until > now => Err(f.until.saturating_sub(now).as_duration()),
            _ => Ok(()),
        }
    }

    /// Records a failure of `ip` at `now`; returns its lockout.
    pub fn record_failure(&mut self, ip: IpAddr, now: Nanos) -> Duration {
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, f| f.until > now);
            if self.entries.len() >= self.capacity {
                if let Some(soonest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, f)| f.until)
                    .map(|(ip, _)| *ip)
                {
                    self.entries.remove(&soonest);
                }
            }
        }
        let entry = self.entries.entry(ip).or_insert(Failures {
            count: 0,
            until: now,
        });
        entry.count = entry.count.saturating_add(1);
        let shift = entry.count.saturating_sub(1).min(20);
        let delay = self.base.saturating_mul(1 << shift).min(self.max);
        entry.until = now.saturating_add(delay);
        delay
    }

    /// Forgets the failures of `ip` after a successful authentication.
    pub fn record_success(&mut self, ip: IpAddr) {
        self.entries.remove(&ip);
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_round_trips_and_rejects_garbage() {
        let c = Credential {
            account: AccountId(201),
            token: b"s3cret",
        };
        let bytes = c.to_bytes().unwrap_or_default();
        assert_eq!(Credential::parse(&bytes), Ok(c));
        assert_eq!(Credential::parse(&[]), Err(CredentialError::Missing));
        assert_eq!(
            Credential::parse(&bytes[..5]),
            Err(CredentialError::Truncated { need: 8, have: 5 })
        );
        assert_eq!(
            Credential::parse(&bytes[..10]),
            Err(CredentialError::Truncated { need: 14, have: 10 })
        );
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(Credential::parse(&v2), Err(CredentialError::Version(2)));
        let mut long = bytes;
        long[2..4].copy_from_slice(&300u16.to_le_bytes());
        assert_eq!(Credential::parse(&long), Err(CredentialError::TooLong(300)));
        let huge = [0u8; 300];
        let c = Credential {
            account: AccountId(1),
            token: &huge,
        };
        assert_eq!(c.to_bytes(), Err(CredentialError::TooLong(300)));
    }

    #[test]
    fn tokens_verify_only_for_their_account() -> Result<(), HashError> {
        let hash = hash_token(b"right")?;
        let mut table = TokenTable::new([(AccountId(201), hash.as_str())])?;
        assert_eq!(table.working_memory(), 0);
        let cred = |account, token| Credential {
            account: AccountId(account),
            token,
        };
        assert!(table.verify(&cred(201, b"right")));
        assert!(!table.verify(&cred(201, b"wrong")));
        assert!(!table.verify(&cred(202, b"right")));
        assert!(!TokenTable::default().verify(&cred(201, b"right")));
        // One working memory of m = 19 MiB, kept and reused.
        assert_eq!(table.working_memory(), 19_456 * 1024);
        Ok(())
    }

    #[test]
    fn hashes_are_checked() {
        assert!(matches!(check_hash("plain"), Err(HashError::Phc(_))));
        let salt = SaltString::generate(&mut OsRng);
        let argon2i = Params::new(64, 1, 1, None)
            .map(|p| Argon2::new(Algorithm::Argon2i, argon2::Version::V0x13, p))
            .ok()
            .and_then(|a| a.hash_password(b"x", &salt).ok())
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(
            matches!(check_hash(&argon2i), Err(HashError::Algorithm(_))),
            "{argon2i}"
        );
        let real = hash_token(b"x").unwrap_or_default();
        assert_eq!(check_hash(&real), Ok(()));
        let huge = real.replace("m=19456", "m=4194304");
        assert!(
            matches!(check_hash(&huge), Err(HashError::Cost { name: "m", .. })),
            "{huge}"
        );
    }

    #[test]
    fn failures_lock_an_address_out_for_growing_delays() {
        let ms = |n: u64| Nanos(n * 1_000_000);
        let mut t = FailureThrottle::new(Duration::from_millis(100), Duration::from_secs(1), 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        assert_eq!(t.check(a, ms(0)), Ok(()));
        assert_eq!(t.record_failure(a, ms(0)), Duration::from_millis(100));
        assert!(t.check(a, ms(50)).is_err());
        assert_eq!(t.check(a, ms(100)), Ok(()));
        assert_eq!(t.record_failure(a, ms(100)), Duration::from_millis(200));
        assert_eq!(t.record_failure(a, ms(300)), Duration::from_millis(400));
        for _ in 0..10 {
            assert!(t.record_failure(a, ms(300)) <= Duration::from_secs(1));
        }
        t.record_success(a);
        assert_eq!(t.check(a, ms(300)), Ok(()));
        // Capacity: a third address evicts one of two.
        let _ = t.record_failure([10, 0, 0, 2].into(), ms(0));
        let _ = t.record_failure([10, 0, 0, 3].into(), ms(0));
        let _ = t.record_failure([10, 0, 0, 4].into(), ms(0));
        assert_eq!(t.len(), 2);
    }
}
