//! CPU-heavy or blocking work (unpacking, hashing, packing, [`crate::LocalStore`]'s file work)
//! moved off the async threads.

use tokio::task::JoinError;

use crate::error::{Error, Result};

/// Runs `work` on tokio's blocking threads and returns its result; `task` names it in the
/// error when it panicked or the runtime shut down first ([`Error::Interrupted`]).
pub(crate) async fn run<T, F>(task: &'static str, work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    off_runtime(work, |e| Error::Interrupted {
        task,
        reason: e.to_string(),
        cancelled: e.is_cancelled(),
    })
    .await
}

/// Runs `work` on tokio's blocking threads, `interrupted` turning a panic or a cancellation
/// into the caller's error type. Without a tokio runtime (a caller driving the future with
/// another executor) it runs inline: there are no async threads to keep free then.
pub(crate) async fn off_runtime<T, E, F>(
    work: F,
    interrupted: impl FnOnce(JoinError) -> E,
) -> std::result::Result<T, E>
where
    F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.spawn_blocking(work).await.map_err(interrupted)?,
        Err(_) => work(),
    }
}
