use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use super::*;

const T: UnixNanos = UnixNanos(1);
const N: Nanos = Nanos(1);

fn seq(next_in: u64, next_out: u64) -> SeqNums {
    SeqNums { next_in, next_out }
}

fn collect(store: &mut SharedStore, begin: u64, end: u64) -> Vec<(u64, Vec<u8>)> {
    let mut got = Vec::new();
    store
        .for_each_outbound(begin, end, &mut |s, f| got.push((s, f.to_vec())))
        .unwrap_or_else(|e| panic!("{e}"));
    got
}

fn frame(session: usize, msg_seq: u64) -> Vec<u8> {
    format!("session {session} message {msg_seq}").into_bytes()
}

/// `count` sessions each send `per` messages, interleaved one by one, flushed per round.
fn interleave(log: &SessionLog, stores: &mut [SharedStore], per: u64) -> anyhow::Result<()> {
    for msg_seq in 1..=per {
        for (k, store) in stores.iter_mut().enumerate() {
            let after = seq(msg_seq + 1, msg_seq + 1);
            store.save_seq_nums(after, T, N)?;
            store.append_outbound(msg_seq, &frame(k, msg_seq), after, T, N)?;
        }
        for store in stores.iter_mut() {
            store.prepare_sync();
        }
        let before = log.syncs();
        if let Some(ticket) = log.begin_sync() {
            let synced = ticket.sync();
            log.finish_sync(&ticket, synced);
        }
        anyhow::ensure!(log.syncs() == before + 1, "one log sync per round");
        for store in stores.iter_mut() {
            store.flush()?;
        }
        anyhow::ensure!(
            log.syncs() == before + 1,
            "flushes after the round sync nothing"
        );
    }
    Ok(())
}

fn keys(count: usize) -> Vec<String> {
    (0..count)
        .map(|k| session_key("GW", &format!("C{k}")))
        .collect()
}

fn check_restart(count: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let per = 5;
    {
        let log = SessionLog::open(dir.path(), JournalConfig::default())?;
        let mut stores = keys(count)
            .iter()
            .map(|k| log.session(k))
            .collect::<Result<Vec<_>, _>>()?;
        // The last session writes first: ids are named in the log out of order.
        stores.reverse();
        interleave(&log, &mut stores, per)?;
        for store in &stores {
            assert_eq!(store.durable_out_seq(), per);
        }
    }
    // Reopened in the reverse order: the keys, not the order, pick the sessions.
    let log = SessionLog::open(dir.path(), JournalConfig::default())?;
    for (k, key) in keys(count).iter().enumerate().rev() {
        let mut store = log.session(key)?;
        assert_eq!(store.seq_nums(), seq(per + 1, per + 1), "{key}");
        let want: Vec<_> = (2..=4).map(|m| (m, frame(count - 1 - k, m))).collect();
        assert_eq!(collect(&mut store, 2, 4), want, "{key}");
        assert_eq!(collect(&mut store, 1, u64::MAX).len(), per as usize);
    }
    assert!(log.unclaimed().is_empty());
    Ok(())
}

#[test]
fn two_sessions_interleaved_survive_a_restart() -> anyhow::Result<()> {
    check_restart(2)
}

#[test]
fn sixteen_sessions_interleaved_survive_a_restart_with_one_sync_per_round() -> anyhow::Result<()> {
    check_restart(16)
}

#[test]
fn a_session_that_wrote_nothing_costs_no_sync_and_no_record() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = SessionLog::open(dir.path(), JournalConfig::default())?;
    let mut idle = log.session(&session_key("GW", "IDLE"))?;
    idle.prepare_sync();
    assert!(log.begin_sync().is_none());
    idle.flush()?;
    assert_eq!((log.syncs(), idle.syncs()), (0, 0));
    drop(idle);
    let log = SessionLog::open(dir.path(), JournalConfig::default())?;
    assert!(
        log.unclaimed().is_empty(),
        "an idle session is not named in the log"
    );
    Ok(())
}

#[test]
fn a_reset_is_a_record_and_unconfigured_sessions_are_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let log = SessionLog::open(dir.path(), JournalConfig::default())?;
        let mut a = log.session(&session_key("GW", "A"))?;
        let mut b = log.session(&session_key("GW", "B"))?;
        a.append_outbound(1, b"a1", seq(1, 2), T, N)?;
        b.append_outbound(1, b"b1", seq(1, 2), T, N)?;
        a.reset(T, N)?;
        a.append_outbound(1, b"a1 again", seq(1, 2), T, N)?;
        a.flush()?;
        b.flush()?;
        assert_eq!(log.syncs(), 1, "b's flush found its records covered by a's");
        assert!(log.session(&session_key("GW", "A")).is_err());
    }
    let log = SessionLog::open(dir.path(), JournalConfig::default())?;
    let mut a = log.session(&session_key("GW", "A"))?;
    assert_eq!(collect(&mut a, 1, 9), [(1, b"a1 again".to_vec())]);
    let unclaimed = log.unclaimed();
    assert_eq!(unclaimed.len(), 1);
    assert_eq!(unclaimed[0].key, session_key("GW", "B"));
    assert_eq!(unclaimed[0].messages, 1);
    let all = inspect(dir.path())?;
    assert_eq!(all.len(), 2);
    Ok(())
}

/// The last segment file (`*.twj`) of the log in `dir`.
fn segment(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "twj"))
        .collect();
    files.sort();
    files
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no segment in {}", dir.display()))
}

/// Writes sessions A and B, two messages each, synced; returns the log's directory.
fn written_log() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let log = SessionLog::open(dir.path(), JournalConfig::default())?;
    let mut a = log.session(&session_key("GW", "A"))?;
    let mut b = log.session(&session_key("GW", "B"))?;
    for m in 1..=2 {
        a.append_outbound(m, &[b'a'; 200], seq(1, m + 1), T, N)?;
        b.append_outbound(m, &[b'b'; 200], seq(1, m + 1), T, N)?;
    }
    a.flush()?;
    b.flush()?;
    Ok(dir)
}

#[test]
fn a_flipped_byte_stops_recovery_naming_the_place() -> anyhow::Result<()> {
    let dir = written_log()?;
    let path = segment(dir.path())?;
    let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    // Inside the third message's frame (session A, MsgSeqNum 2): a run of 200 'a' after
    // the first run of 200 'b'.
    let b_run = bytes
        .windows(200)
        .position(|w| w.iter().all(|&x| x == b'b'))
        .ok_or_else(|| anyhow::anyhow!("no b run"))?;
    let a_run = b_run
        + 200
        + bytes[b_run + 200..]
            .windows(200)
            .position(|w| w.iter().all(|&x| x == b'a'))
            .ok_or_else(|| anyhow::anyhow!("no second a run"))?;
    file.seek(SeekFrom::Start((a_run + 100) as u64))?;
    file.write_all(b"X")?;
    drop(file);
    let err = SessionLog::open(dir.path(), JournalConfig::default())
        .err()
        .ok_or_else(|| anyhow::anyhow!("a flipped byte must stop recovery"))?;
    let text = err.to_string();
    assert!(matches!(err, StoreError::LogDamaged { .. }), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("offset"), "{text}");
    assert!(text.contains(&session_key("GW", "B")), "{text}");
    // Nothing was cut or deleted: the same error again.
    let again = SessionLog::open(dir.path(), JournalConfig::default())
        .err()
        .ok_or_else(|| anyhow::anyhow!("still damaged"))?;
    assert_eq!(again.to_string(), text);
    Ok(())
}

#[test]
fn a_torn_tail_after_the_last_sync_is_dropped() -> anyhow::Result<()> {
    let dir = written_log()?;
    {
        let log = SessionLog::open(dir.path(), JournalConfig::default())?;
        let mut a = log.session(&session_key("GW", "A"))?;
        // Written, never synced (never acknowledged): then torn.
        a.append_outbound(3, &[b'z'; 300], seq(1, 4), T, N)?;
    }
    let path = segment(dir.path())?;
    let bytes = std::fs::read(&path)?;
    let z_run = bytes
        .windows(300)
        .position(|w| w.iter().all(|&x| x == b'z'))
        .ok_or_else(|| anyhow::anyhow!("no z run"))?;
    OpenOptions::new()
        .write(true)
        .open(&path)?
        .set_len((z_run + 150) as u64)?;
    let log = SessionLog::open(dir.path(), JournalConfig::default())?;
    let mut a = log.session(&session_key("GW", "A"))?;
    let mut b = log.session(&session_key("GW", "B"))?;
    assert_eq!(a.seq_nums(), seq(1, 3));
    assert_eq!(collect(&mut a, 1, 9).len(), 2);
    assert_eq!(collect(&mut b, 1, 9).len(), 2);
    Ok(())
}

#[test]
fn a_record_of_an_unnamed_session_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let (mut writer, _) = JournalWriter::open(dir.path(), JournalConfig::default())?;
        let mut payload = 7u32.to_le_bytes().to_vec();
        payload.extend_from_slice(&[0; 16]);
        writer.append(RECORD_LOG_SEQ_NUMS, T, &payload, N)?;
        writer.sync()?;
    }
    let err = SessionLog::open(dir.path(), JournalConfig::default())
        .err()
        .ok_or_else(|| anyhow::anyhow!("must refuse"))?;
    assert!(
        matches!(&err, StoreError::LogCorrupt { seq: 1, session, .. } if session == "id 7"),
        "{err}"
    );
    Ok(())
}
