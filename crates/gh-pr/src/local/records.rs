//! The local forge's records under `<git-dir>/gitops/`: pull requests, reviews, statuses,
//! comments, deployments and dispatches as JSON files, changed under one lock file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gitops_event_model::{CommitSha, Login};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::LocalGitForge;
use crate::{Error, PrState, Result};

/// How long [`LocalGitForge::lock`] waits for another holder.
const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PrRecord {
    pub number: u64,
    pub branch: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub state: PrState,
    pub closed_head: Option<CommitSha>,
    pub merge_sha: Option<CommitSha>,
}

/// One review of a head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ReviewRecord {
    pub login: Login,
    pub sha: CommitSha,
    pub approved: bool,
}

/// Holds the records' exclusive lock (an OS file lock: released when dropped, also when the
/// process dies) until dropped.
pub(super) struct LockGuard(std::fs::File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes it prompt.
        let _ = self.0.unlock();
    }
}

impl LocalGitForge {
    pub(super) fn records(&self) -> PathBuf {
        self.git_dir.join("gitops")
    }

    /// Take the records' lock (`<git-dir>/gitops/lock`), polling without blocking the
    /// runtime; `Conflict` after 30 s.
    pub(super) async fn lock(&self) -> Result<LockGuard> {
        let dir = self.records();
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join("lock");
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .await?
            .into_std()
            .await;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            // Non-blocking: either takes the lock at once or says it is held.
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard(file)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if Instant::now() > deadline {
                        return Err(Error::conflict(format!("lock {} is held", path.display())));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
    }

    /// A record, or `T::default()` when there is none yet; a record that does not parse is
    /// `Malformed`.
    pub(super) async fn read_json<T: DeserializeOwned + Default>(&self, rel: &str) -> Result<T> {
        match tokio::fs::read(self.records().join(rel)).await {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::malformed(format!("record {rel}"), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Replace a record whole (write a temporary file, then rename).
    pub(super) async fn write_json<T: Serialize>(&self, rel: &str, value: &T) -> Result<()> {
        let path = self.records().join(rel);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::invalid("record", format!("cannot serialise {rel}: {e}")))?;
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    /// Next value of a counter file (call under the lock).
    pub(super) async fn next_counter(&self, name: &str, start: u64) -> Result<u64> {
        let n: Option<u64> = self.read_json(name).await?;
        let n = n.unwrap_or(start);
        self.write_json(name, &(n + 1)).await?;
        Ok(n)
    }

    pub(super) async fn pr_record(&self, number: u64) -> Result<PrRecord> {
        let rec: Option<PrRecord> = self.read_json(&format!("prs/{number}.json")).await?;
        rec.ok_or_else(|| Error::not_found(format!("pull request #{number}")))
    }

    pub(super) async fn all_prs(&self) -> Result<Vec<PrRecord>> {
        let dir = self.records().join("prs");
        let mut out = Vec::new();
        let mut rd = match tokio::fs::read_dir(&dir).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = rd.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.push(self.pr_record(n).await?);
            }
        }
        out.sort_by_key(|p| p.number);
        Ok(out)
    }
}
