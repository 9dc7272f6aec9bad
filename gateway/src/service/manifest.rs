//! The journal directory's manifest: which journals the gateway has created under its
//! journal directory (the order journal and one store per FIX session), so that a start
//! can tell a journal that was deleted or moved from one that never existed.
//!
//! Each journal already refuses to open when its own segments are damaged or missing
//! (its identity file survives them). What no single journal can see is its whole
//! directory gone: without this manifest a deleted `orders/` directory would start an
//! empty order journal while the FIX session stores still hold the ExecutionReports
//! of every acknowledged order, and a deleted session store would restart that
//! session's sequence numbers at 1. The manifest (`GATEWAY`, a text file beside the
//! journals, replaced atomically) lists every journal created so far; a start refuses
//! when a listed journal of the configuration is missing, naming it. A directory from
//! before the manifest existed gets one on its first start, written from what is on
//! disk; a session store without an order journal is refused then too.
//!
//! What it must not do: create, repair or delete a journal, or read journal contents.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tickwarp_wire::journal::{self, JournalError};

/// The manifest's file name in the journal directory.
pub const MANIFEST_FILE: &str = "GATEWAY";
/// The manifest's name while it is being replaced.
const MANIFEST_TMP: &str = "GATEWAY.tmp";
/// The first line of a manifest.
const MAGIC: &str = "tickwarp gateway journals";
/// The second line: the format.
const FORMAT: &str = "format 1";

/// Why the journal directory is not what the manifest says.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A journal the gateway created before is gone.
    #[error(
        "journal {} is missing, but {} lists it as created by an earlier run: it was deleted or moved, and the acknowledged orders or sequence numbers it held would be lost. Restore it from a backup; to start this part afresh on purpose, remove its line `{name}` from {}",
        .path.display(), .manifest.display(), .manifest.display()
    )]
    Missing {
        /// The journal's name in the manifest (e.g. `orders`, `fix/GW-CLIENT1`).
        name: String,
        /// Where it should be.
        path: PathBuf,
        /// The manifest.
        manifest: PathBuf,
    },
    /// FIX session stores exist without the order journal their messages came from.
    #[error(
        "the order journal {} is missing, but FIX session stores exist ({}): the order journal was deleted or moved, and the orders those sessions acknowledged would be lost. Restore it from a backup, or point `journal.dir` at a new, empty directory",
        .orders.display(), .stores.join(", ")
    )]
    OrdersMissing {
        /// Where the order journal should be.
        orders: PathBuf,
        /// The session stores found.
        stores: Vec<String>,
    },
    /// The manifest cannot be parsed.
    #[error("{}: not a tickwarp journal manifest ({why}); restore it or remove it to rebuild it from the journals on disk", .path.display())]
    Bad {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Reading or writing the manifest failed.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// The operation.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A journal's identity could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The journals of one gateway journal directory, by name relative to it.
#[derive(Debug)]
pub struct Manifest {
    root: PathBuf,
    listed: BTreeSet<String>,
    on_disk: bool,
}

impl Manifest {
    /// Checks `root` before any journal is opened: every journal in `expected` (names
    /// relative to `root`, the order journal as `orders`) that the manifest lists must
    /// exist. Without a manifest (a new directory, or one from before manifests), the
    /// journals on disk are taken as listed, and session stores without an order
    /// journal are refused.
    pub fn check(root: &Path, expected: &[String]) -> Result<Manifest, ManifestError> {
        let path = root.join(MANIFEST_FILE);
        let listed = match std::fs::read_to_string(&path) {
            Ok(text) => Some(parse(&text).map_err(|why| ManifestError::Bad {
                path: path.clone(),
                why,
            })?),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ManifestError::Io {
                    what: "read",
                    path,
                    source,
                });
            }
        };
        let manifest = match listed {
            Some(listed) => {
                for name in expected.iter().filter(|n| listed.contains(*n)) {
                    if !journal::exists(&root.join(name))? {
                        return Err(ManifestError::Missing {
                            name: name.clone(),
                            path: root.join(name),
                            manifest: path,
                        });
                    }
                }
                Manifest {
                    root: root.to_path_buf(),
                    listed,
                    on_disk: true,
                }
            }
            None => {
                let listed = journals_on_disk(root)?;
                if !listed.contains(ORDERS) && !listed.is_empty() {
                    return Err(ManifestError::OrdersMissing {
                        orders: root.join(ORDERS),
                        stores: listed.into_iter().collect(),
                    });
                }
                Manifest {
                    root: root.to_path_buf(),
                    listed,
                    on_disk: false,
                }
            }
        };
        Ok(manifest)
    }

    /// After the journals in `opened` were opened (and so created where new): lists them,
    /// rewriting the manifest (atomically, synced) only when something was added.
    pub fn record(&mut self, opened: &[String]) -> Result<(), ManifestError> {
        let before = self.listed.len();
        self.listed.extend(opened.iter().cloned());
        if self.on_disk && self.listed.len() == before {
            return Ok(());
        }
        let mut text = format!("{MAGIC}\n{FORMAT}\n");
        for name in &self.listed {
            text.push_str(name);
            text.push('\n');
        }
        let tmp = self.root.join(MANIFEST_TMP);
        let path = self.root.join(MANIFEST_FILE);
        let io = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| ManifestError::Io { what, path, source }
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        file.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("sync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", &self.root))?;
        self.on_disk = true;
        Ok(())
    }
}

/// Every journal of a gateway journal directory, for `tickwarp journal verify`: the
/// names the manifest lists and those found on disk (and, without a manifest, the order
/// journal whenever a session store exists), each with whether it exists, sorted by
/// name. Empty when `root` holds neither a manifest nor a journal.
pub fn inventory(root: &Path) -> Result<Vec<(String, bool)>, ManifestError> {
    let path = root.join(MANIFEST_FILE);
    let mut names = journals_on_disk(root)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => names.extend(parse(&text).map_err(|why| ManifestError::Bad { path, why })?),
        // Without a manifest, session stores still imply an order journal.
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if !names.is_empty() {
                names.insert(ORDERS.to_string());
            }
        }
        Err(source) => {
            return Err(ManifestError::Io {
                what: "read",
                path,
                source,
            });
        }
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let exists = journal::exists(&root.join(&name))?;
        out.push((name, exists));
    }
    Ok(out)
}

/// The order journal's name.
const ORDERS: &str = "orders";

/// The journals found under `root`: `orders` and `fix/*`, those whose identity exists.
fn journals_on_disk(root: &Path) -> Result<BTreeSet<String>, ManifestError> {
    let mut found = BTreeSet::new();
    if journal::exists(&root.join(ORDERS))? {
        found.insert(ORDERS.to_string());
    }
    let fix = root.join("fix");
    let entries = match std::fs::read_dir(&fix) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(found),
        Err(source) => {
            return Err(ManifestError::Io {
                what: "list",
                path: fix,
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| ManifestError::Io {
            what: "list",
            path: fix.clone(),
            source,
        })?;
        if journal::exists(&entry.path())? {
            found.insert(format!("fix/{}", entry.file_name().to_string_lossy()));
        }
    }
    Ok(found)
}

/// Parses a manifest's text into its journal names.
fn parse(text: &str) -> Result<BTreeSet<String>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("the first line is not `{MAGIC}`"));
    }
    if lines.next() != Some(FORMAT) {
        return Err(format!("the second line is not `{FORMAT}`"));
    }
    let mut names = BTreeSet::new();
    for line in lines {
        let name = line.trim();
        if name.is_empty() {
            continue;
        }
        let relative = Path::new(name);
        if relative.is_absolute() || name.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(format!(
                "`{name}` is not a journal name under the directory"
            ));
        }
        names.insert(name.to_string());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_foreign_text_and_escaping_names() {
        assert!(parse("hello\n").is_err());
        assert!(parse(&format!("{MAGIC}\nformat 9\n")).is_err());
        assert!(parse(&format!("{MAGIC}\n{FORMAT}\n../etc\n")).is_err());
        assert!(parse(&format!("{MAGIC}\n{FORMAT}\n/abs\n")).is_err());
        let names = parse(&format!("{MAGIC}\n{FORMAT}\norders\nfix/A-B\n\n")).unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["fix/A-B", "orders"]);
    }
}
