//! `tickwarp passwd`: reads a FIX session password and prints its argon2id PHC string
//! for the `password_hash` key of a session.
//!
//! On a terminal it prompts twice without echo; from a pipe it reads the whole input and
//! drops one trailing newline. It never echoes, logs or stores the password.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use clap::Args;
use tickwarp_gateway::service::acceptor::hash_password;

/// Arguments of `tickwarp passwd`.
#[derive(Debug, Args)]
pub(crate) struct PasswdArgs {}

/// Longest password accepted, bytes.
const MAX_PASSWORD: usize = 1024;

/// Reads the password, prints its hash.
pub(crate) fn run(_args: &PasswdArgs) -> anyhow::Result<bool> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("FIX session password: ")
            .context("reading the password from the terminal")?;
        let again = rpassword::prompt_password("Again: ")
            .context("reading the password from the terminal")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first.into_bytes()
    } else {
        let mut raw = Vec::new();
        std::io::stdin()
            .take(MAX_PASSWORD as u64 + 3)
            .read_to_end(&mut raw)
            .context("reading the password from stdin")?;
        from_pipe(raw)?
    };
    let phc = hash_password(&password)?;
    println!("{phc}");
    Ok(true)
}

/// The password in piped input: everything but one trailing `\n` or `\r\n`.
fn from_pipe(mut raw: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if raw.last() == Some(&b'\n') {
        raw.pop();
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
    }
    if raw.is_empty() {
        bail!("empty password on stdin");
    }
    if raw.len() > MAX_PASSWORD {
        bail!("password longer than {MAX_PASSWORD} bytes");
    }
    if raw.contains(&b'\x01') {
        bail!("a FIX password cannot contain SOH (0x01)");
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_dropped() {
        let p = |s: &[u8]| from_pipe(s.to_vec()).ok();
        assert_eq!(p(b"s3cret\n"), Some(b"s3cret".to_vec()));
        assert_eq!(p(b"s3cret\r\n"), Some(b"s3cret".to_vec()));
        assert_eq!(p(b"s3cret\n\n"), Some(b"s3cret\n".to_vec()));
        assert_eq!(p(b" a b "), Some(b" a b ".to_vec()));
        assert_eq!(p(b"\n"), None);
        assert_eq!(p(b"a\x01b"), None);
        assert_eq!(p(&[b'x'; MAX_PASSWORD + 1]), None);
    }
}
