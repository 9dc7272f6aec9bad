//! The directory identity file `JOURNAL`: proof that a journal lives here.
//!
//! Written once, when the journal is created, and never rewritten. With it, a directory
//! whose segment files were all deleted refuses to open instead of silently starting an
//! empty journal, and the first segment must start at the sequence number it names.
//! Creation is crash-safe: the file is written as `JOURNAL.tmp`, the first segment is
//! created, then the file is renamed into place. This module must not touch segments.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::{JournalError, io_err};
use crate::units::SeqNo;

/// Name of the identity file in a journal directory.
pub(crate) const IDENTITY_FILE: &str = "JOURNAL";
/// Name of the identity file while the journal is being created.
const IDENTITY_TMP: &str = "JOURNAL.tmp";
/// First line of the identity file.
const IDENTITY_MAGIC: &str = "tickwarp journal";
/// Mode of every file the journal creates.
pub(crate) const FILE_MODE: u32 = 0o600;

/// What the directory says about its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// No identity file: no journal was ever completely created here.
    Absent,
    /// Only the temporary file: creation was interrupted.
    Pending,
    /// A valid identity: the journal's first segment starts at `first_seq`.
    Present {
        /// The first sequence number the journal ever held.
        first_seq: SeqNo,
    },
    /// The identity file exists but cannot be parsed.
    Bad,
}

/// Whether a journal was ever completely created in `dir` (its identity file exists,
/// readable or not). A missing directory, or one whose creation was interrupted before
/// its first segment existed, holds no journal.
pub fn exists(dir: &Path) -> Result<bool, JournalError> {
    Ok(!matches!(
        read_identity(dir)?,
        Identity::Absent | Identity::Pending
    ))
}

/// Reads the identity of the journal in `dir`.
pub(crate) fn read_identity(dir: &Path) -> Result<Identity, JournalError> {
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Ok(parse(&text).map_or(Identity::Bad, |first_seq| Identity::Present { first_seq }))
        }
        Err(e) if e.kind() == ErrorKind::InvalidData => Ok(Identity::Bad),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let tmp = dir.join(IDENTITY_TMP);
            match tmp.try_exists().map_err(io_err("stat", &tmp))? {
                true => Ok(Identity::Pending),
                false => Ok(Identity::Absent),
            }
        }
        Err(e) => Err(io_err("read", &path)(e)),
    }
}

/// The identity text for a journal starting at `first_seq`.
fn render(first_seq: SeqNo) -> String {
    format!(
        "{IDENTITY_MAGIC}\nformat 2\nfirst_seq {}\n",
        first_seq.get()
    )
}

/// Parses the identity text; `None` if it is not one.
fn parse(text: &str) -> Option<SeqNo> {
    let mut lines = text.lines();
    if lines.next()? != IDENTITY_MAGIC || lines.next()? != "format 2" {
        return None;
    }
    let first = lines.next()?.strip_prefix("first_seq ")?.parse().ok()?;
    (first > 0 && lines.next().is_none()).then_some(SeqNo(first))
}

/// Step one of creation: writes and syncs `JOURNAL.tmp` (replacing a leftover one).
pub(crate) fn begin_create(dir: &Path) -> Result<(), JournalError> {
    let tmp = dir.join(IDENTITY_TMP);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    file.write_all(render(SeqNo(1)).as_bytes())
        .map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))
}

/// Step two of creation (after the first segment is durable): renames the identity into
/// place and syncs the directory.
pub(crate) fn finish_create(dir: &Path) -> Result<(), JournalError> {
    let tmp = dir.join(IDENTITY_TMP);
    let path = dir.join(IDENTITY_FILE);
    std::fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
    sync_dir(dir)
}

/// Syncs a directory so that created, renamed and removed names are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_rejects_garbage() {
        assert_eq!(parse(&render(SeqNo(1))), Some(SeqNo(1)));
        for bad in [
            "",
            "tickwarp journal\nformat 1\nfirst_seq 1\n",
            "tickwarp journal\nformat 2\nfirst_seq 0\n",
            "tickwarp journal\nformat 2\nfirst_seq x\n",
            "tickwarp journal\nformat 2\nfirst_seq 1\nmore\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn creation_in_two_steps() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_identity(dir.path()).unwrap(), Identity::Absent);
        begin_create(dir.path()).unwrap();
        assert_eq!(read_identity(dir.path()).unwrap(), Identity::Pending);
        finish_create(dir.path()).unwrap();
        assert_eq!(
            read_identity(dir.path()).unwrap(),
            Identity::Present {
                first_seq: SeqNo(1)
            }
        );
        std::fs::write(dir.path().join(IDENTITY_FILE), "nope").unwrap();
        assert_eq!(read_identity(dir.path()).unwrap(), Identity::Bad);
    }
}
