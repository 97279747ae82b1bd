//! Backups and restore of the depot's database file: scheduled backups
//! into `backup_dir` (best on another medium than the database), and
//! `depot-server restore PATH`, which checks a backup before it replaces
//! anything.
//!
//! A backup is SQLite's `VACUUM INTO` through the read pool (consistent,
//! online), written under a temporary name, synced and renamed, so a
//! backup file in the directory is always whole. Names are
//! `depot-{id}-{UTC time}.db`; only files of that shape are ever deleted.
//!
//! Restore checks the file (SQLite, `integrity_check`, migrations known to
//! this binary with the same checksums, the same depot id, the hash chain),
//! refuses while a server holds the database (`{db}.lock`), keeps the
//! replaced database beside it (`{db}.replaced-{time}`) and only then moves
//! the backup into place. Which facts pass is decided by [`judge`], pure.
//!
//! The copy put in place starts a new feed epoch (`domain::epoch`): a fresh
//! id, one generation above the backup's and the replaced database's, based
//! on the backup's chain head, with the time of the restore; and it queues
//! every stock and utilisation snapshot to be published again. So the
//! restored depot never publishes a movement under an (epoch, seq) a hub
//! already holds with other content, and a hub can tell what was lost.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::depot::{BackupFacts, Depot, StoreOptions};
use crate::domain::chain::Break;
use crate::domain::epoch::FeedEpoch;

/// What scheduled backups do.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub interval: Duration,
    pub keep: usize,
    pub depot_id: String,
}

/// Takes a backup every `interval` (the first when the newest one in the
/// directory is that old, or at once if there is none) until `stop`.
pub fn spawn(depot: Depot, schedule: Schedule, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = first_wait(&schedule, OffsetDateTime::now_utc());
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|&s| s) => return,
            }
            match take(&depot, &schedule).await {
                Ok(path) => {
                    depot.metrics().backups_taken.inc();
                    tracing::info!(path = %path.display(), "scheduled backup written");
                }
                Err(error) => {
                    depot.metrics().backups_failed.inc();
                    tracing::error!(error = format!("{error:#}"), dir = %schedule.dir.display(),
                        "scheduled backup failed; trying again at the next interval");
                }
            }
            wait = schedule.interval;
        }
    })
}

/// How long until the first scheduled backup.
fn first_wait(schedule: &Schedule, now: OffsetDateTime) -> Duration {
    let newest = ours(&schedule.dir, &schedule.depot_id)
        .last()
        .and_then(|name| taken_at(name, &schedule.depot_id));
    match newest {
        Some(at) => {
            let age = (now - at).max(time::Duration::ZERO);
            schedule
                .interval
                .saturating_sub(Duration::try_from(age).unwrap_or(Duration::MAX))
        }
        None => Duration::ZERO,
    }
}

/// Writes one backup and deletes the oldest beyond `keep`.
pub async fn take(depot: &Depot, schedule: &Schedule) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(&schedule.dir)
        .with_context(|| format!("cannot create {}", schedule.dir.display()))?;
    let name = backup_name(&schedule.depot_id, OffsetDateTime::now_utc());
    let partial = schedule.dir.join(format!(".{name}.partial"));
    let _ = fs::remove_file(&partial);
    depot
        .backup(&partial)
        .await
        .with_context(|| format!("cannot write {}", partial.display()))?;
    File::open(&partial)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot sync {}", partial.display()))?;
    let path = schedule.dir.join(&name);
    fs::rename(&partial, &path).with_context(|| format!("cannot name {}", path.display()))?;
    sync_dir(&schedule.dir);
    let names = ours(&schedule.dir, &schedule.depot_id);
    for old in names.iter().take(names.len().saturating_sub(schedule.keep)) {
        let old = schedule.dir.join(old);
        if let Err(error) = fs::remove_file(&old) {
            tracing::warn!(%error, path = %old.display(), "cannot delete an old backup");
        }
    }
    Ok(path)
}

/// `depot-{id}-{YYYYMMDDTHHMMSSZ}.db`: sorts by time.
fn backup_name(depot_id: &str, at: OffsetDateTime) -> String {
    format!(
        "depot-{depot_id}-{:04}{:02}{:02}T{:02}{:02}{:02}Z.db",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// When a backup of ours was taken, from its name; `None` if the name is not ours.
fn taken_at(name: &str, depot_id: &str) -> Option<OffsetDateTime> {
    let stamp = name
        .strip_prefix("depot-")?
        .strip_prefix(depot_id)?
        .strip_prefix('-')?
        .strip_suffix("Z.db")?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]");
    time::PrimitiveDateTime::parse(stamp, format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// Our backups in the directory, oldest first.
fn ours(dir: &Path, depot_id: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| taken_at(name, depot_id).is_some())
        .collect();
    names.sort();
    names
}

fn sync_dir(dir: &Path) {
    if let Err(error) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(%error, dir = %dir.display(), "cannot sync the directory");
    }
}

/// Why a file is not restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a SQLite database")]
    NotSqlite,
    #[error("the database is damaged: {0}")]
    Corrupt(String),
    #[error("not a depot database (no migrations of depot-server)")]
    NotADepot,
    #[error("made by a newer depot-server (migration {0} is unknown to this one); upgrade first")]
    Newer(i64),
    #[error("migration {0} differs from this depot-server's: not a backup of this product")]
    Foreign(i64),
    #[error("a backup of depot '{found}', and this is depot '{expected}'")]
    OtherDepot { found: String, expected: String },
    #[error("its ledger's hash chain breaks at seq {0} (depot-server verify tells more)")]
    ChainBroken(i64),
}

/// Whether a backup's facts allow restoring it as depot `depot_id` with
/// migrations `known` (version, checksum) of this binary.
pub fn judge(facts: &BackupFacts, known: &[(i64, Vec<u8>)], depot_id: &str) -> Result<(), Refused> {
    if facts.integrity != "ok" {
        return Err(Refused::Corrupt(facts.integrity.clone()));
    }
    if facts.migrations.is_empty() {
        return Err(Refused::NotADepot);
    }
    for (version, checksum) in &facts.migrations {
        match known.iter().find(|(v, _)| v == version) {
            None => return Err(Refused::Newer(*version)),
            Some((_, ours)) if ours != checksum => return Err(Refused::Foreign(*version)),
            Some(_) => {}
        }
    }
    if let Some(found) = &facts.depot_id {
        if found != depot_id {
            return Err(Refused::OtherDepot {
                found: found.clone(),
                expected: depot_id.to_owned(),
            });
        }
    }
    if let Some(Err(broken)) = &facts.chain {
        return Err(Refused::ChainBroken(Break::seq(broken)));
    }
    Ok(())
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// Where the database that was replaced now is (none if there was none).
    pub kept: Option<PathBuf>,
    /// The restored ledger's last seq.
    pub last_seq: i64,
    /// The epoch the restored database starts.
    pub epoch: FeedEpoch,
}

/// The lock a serving depot holds on `{db}.lock`, so that a restore cannot
/// replace its database under it.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The serving lock: held while the value lives.
pub type ServingLock = nix::fcntl::Flock<File>;

/// Takes the serving lock of `db` (an exclusive `flock` on `{db}.lock`); an
/// error if another process holds it.
pub fn lock(db: &Path) -> anyhow::Result<ServingLock> {
    use nix::fcntl::{Flock, FlockArg};
    let path = lock_path(db);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => anyhow::bail!(
            "a depot-server is running on {} (it holds {})",
            db.display(),
            path.display()
        ),
        Err((_, errno)) => Err(std::io::Error::from(errno))
            .with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Checks `backup` and puts it in place of `db`, keeping the old database.
pub async fn restore(db: &Path, backup: &Path, depot_id: &str) -> anyhow::Result<Restored> {
    let mut header = [0u8; 16];
    let read =
        File::open(backup).and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header));
    read.with_context(|| format!("cannot read {}", backup.display()))?;
    if &header != b"SQLite format 3\0" {
        anyhow::bail!("{} is refused: {}", backup.display(), Refused::NotSqlite);
    }
    let facts = crate::depot::inspect_backup(backup)
        .await
        .map_err(|error| Refused::Corrupt(error.to_string()))
        .with_context(|| format!("{} is refused", backup.display()))?;
    let known = crate::depot::known_migrations();
    judge(&facts, &known, depot_id).with_context(|| format!("{} is refused", backup.display()))?;
    let _lock = lock(db)?;

    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = db
        .file_name()
        .context("the database path names no file")?
        .to_string_lossy()
        .into_owned();
    let incoming = dir.join(format!(".{name}.restoring"));
    fs::copy(backup, &incoming)
        .with_context(|| format!("cannot copy to {}", incoming.display()))?;
    let epoch = new_epoch(db, &facts).await;
    crate::depot::mark_restored(&incoming, &epoch, OffsetDateTime::now_utc())
        .await
        .with_context(|| format!("cannot mark {} as restored", incoming.display()))?;
    File::open(&incoming)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot sync {}", incoming.display()))?;
    let kept = if db.exists() {
        let stamp = backup_name("x", OffsetDateTime::now_utc());
        let stamp = stamp.trim_start_matches("depot-x-").trim_end_matches(".db");
        let kept = dir.join(format!("{name}.replaced-{stamp}"));
        // The database with its WAL and shared-memory files, as one set.
        for suffix in ["-wal", "-shm"] {
            let from = dir.join(format!("{name}{suffix}"));
            if from.exists() {
                let to = dir.join(format!("{name}.replaced-{stamp}{suffix}"));
                fs::rename(&from, &to)
                    .with_context(|| format!("cannot move {}", from.display()))?;
            }
        }
        fs::rename(db, &kept).with_context(|| format!("cannot move {}", db.display()))?;
        Some(kept)
    } else {
        None
    };
    fs::rename(&incoming, db)
        .with_context(|| format!("cannot move the backup to {}", db.display()))?;
    sync_dir(dir);
    Ok(Restored {
        kept,
        last_seq: facts.last_seq,
        epoch,
    })
}

/// The epoch a restore of a backup with `facts` over `db` starts: one
/// generation above every epoch either database knows (an unreadable or
/// missing one counts as none), based on the backup's chain head, or on its
/// last seq for a backup from before the chain.
async fn new_epoch(db: &Path, facts: &BackupFacts) -> FeedEpoch {
    let replaced =
        crate::depot::peek_meta(db, &StoreOptions::default(), crate::depot::EPOCH_KEY).await;
    let known: Vec<u64> = [facts.epoch.clone(), replaced]
        .into_iter()
        .flatten()
        .filter_map(|text| FeedEpoch::decode(&text).ok())
        .map(|epoch| epoch.generation)
        .collect();
    let (head_seq, head_hash) = match &facts.chain {
        Some(Ok(head)) => (head.seq, Some(head.hash)),
        _ => (facts.last_seq, None),
    };
    FeedEpoch::after_restore(
        crate::depot::fresh_epoch_id(),
        known,
        head_seq,
        head_hash,
        OffsetDateTime::now_utc(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chain::{ChainHash, ChainHead};

    fn facts() -> BackupFacts {
        BackupFacts {
            integrity: "ok".into(),
            migrations: vec![(1, vec![1]), (2, vec![2])],
            depot_id: Some("depot-1".into()),
            epoch: None,
            chain: Some(Ok(ChainHead {
                seq: 3,
                hash: ChainHash::GENESIS,
            })),
            last_seq: 3,
        }
    }

    fn known() -> Vec<(i64, Vec<u8>)> {
        vec![(1, vec![1]), (2, vec![2]), (3, vec![3])]
    }

    #[test]
    fn a_good_backup_of_this_depot_passes() {
        assert_eq!(judge(&facts(), &known(), "depot-1"), Ok(()));
        // From before the chain and before the depot id was recorded: still ours.
        let old = BackupFacts {
            depot_id: None,
            chain: None,
            ..facts()
        };
        assert_eq!(judge(&old, &known(), "depot-1"), Ok(()));
    }

    #[test]
    fn each_bad_fact_is_named() {
        let corrupt = BackupFacts {
            integrity: "row 3 missing from index".into(),
            ..facts()
        };
        assert!(matches!(
            judge(&corrupt, &known(), "depot-1"),
            Err(Refused::Corrupt(_))
        ));
        let empty = BackupFacts {
            migrations: vec![],
            ..facts()
        };
        assert_eq!(judge(&empty, &known(), "depot-1"), Err(Refused::NotADepot));
        let newer = BackupFacts {
            migrations: vec![(1, vec![1]), (9, vec![9])],
            ..facts()
        };
        assert_eq!(judge(&newer, &known(), "depot-1"), Err(Refused::Newer(9)));
        let foreign = BackupFacts {
            migrations: vec![(1, vec![7])],
            ..facts()
        };
        assert_eq!(
            judge(&foreign, &known(), "depot-1"),
            Err(Refused::Foreign(1))
        );
        assert!(matches!(
            judge(&facts(), &known(), "depot-2"),
            Err(Refused::OtherDepot { .. })
        ));
        let broken = BackupFacts {
            chain: Some(Err(Break::Mismatch { seq: 2 })),
            ..facts()
        };
        assert_eq!(
            judge(&broken, &known(), "depot-1"),
            Err(Refused::ChainBroken(2))
        );
    }

    #[test]
    fn backup_names_sort_by_time_and_only_ours_count() {
        let early = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let late = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let (a, b) = (backup_name("depot-1", early), backup_name("depot-1", late));
        assert!(a < b);
        assert_eq!(taken_at(&a, "depot-1"), Some(early));
        assert_eq!(taken_at(&a, "depot-2"), None);
        assert_eq!(taken_at("depot-1-notes.db", "depot-1"), None);
        assert_eq!(taken_at(&format!(".{a}.partial"), "depot-1"), None);
    }

    #[test]
    fn the_first_backup_waits_for_the_newest_to_age() {
        let dir = tempfile::tempdir().unwrap();
        let schedule = Schedule {
            dir: dir.path().to_owned(),
            interval: Duration::from_secs(3_600),
            keep: 3,
            depot_id: "depot-1".into(),
        };
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(first_wait(&schedule, now), Duration::ZERO);
        let ten_minutes_ago = now - time::Duration::minutes(10);
        fs::write(
            dir.path().join(backup_name("depot-1", ten_minutes_ago)),
            b"",
        )
        .unwrap();
        assert_eq!(first_wait(&schedule, now), Duration::from_secs(50 * 60));
    }
}
