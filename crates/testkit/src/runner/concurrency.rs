//! Concurrency groups with GitHub's semantics: per group at most one running and one pending
//! run (or job); a newer pending one cancels the older pending one; with `cancel-in-progress`
//! the running one is cancelled as well.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

/// Why a holder never ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Superseded(pub(crate) String);

#[derive(Default)]
struct Group {
    running: Option<(u64, watch::Sender<bool>)>,
    pending: Option<(u64, watch::Sender<bool>, oneshot::Sender<bool>)>,
}

/// Every group of the server.
#[derive(Default, Clone)]
pub(crate) struct Groups(Arc<Mutex<HashMap<String, Group>>>);

/// Holds a group until dropped, then admits the pending holder.
pub(crate) struct Held {
    groups: Groups,
    key: String,
    holder: u64,
}

fn lock(m: &Mutex<HashMap<String, Group>>) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A holder's place in a group: admitted now, or waiting for its turn.
pub(crate) enum Admission {
    /// The group was free.
    Now(Held),
    /// Pending behind the running holder.
    Waiting {
        rx: oneshot::Receiver<bool>,
        held: Held,
        name: String,
    },
}

impl Admission {
    /// Waits for the turn: the group held, or why the holder never ran.
    pub(crate) async fn admitted(self) -> Result<Held, Superseded> {
        match self {
            Self::Now(h) => Ok(h),
            Self::Waiting { rx, held, name } => {
                if rx.await == Ok(true) {
                    Ok(held)
                } else {
                    drop(held);
                    Err(Superseded(format!(
                        "Canceling since a higher priority waiting request for '{name}' exists"
                    )))
                }
            }
        }
    }
}

impl Groups {
    /// Takes `holder`'s place in group `key` (named `name` in messages) at once, in the order
    /// of the calls: admitted when the group is free, else pending (cancelling the older
    /// pending holder). `cancel` is the holder's own cancel switch, which a later arrival with
    /// `cancel-in-progress` flips.
    pub(crate) fn enqueue(
        &self,
        key: String,
        name: &str,
        holder: u64,
        cancel_in_progress: bool,
        cancel: watch::Sender<bool>,
    ) -> Admission {
        let mut groups = lock(&self.0);
        let g = groups.entry(key.clone()).or_default();
        let held = Held {
            groups: self.clone(),
            key,
            holder,
        };
        if g.running.is_none() {
            g.running = Some((holder, cancel));
            return Admission::Now(held);
        }
        if cancel_in_progress && let Some((_, running)) = &g.running {
            running.send_replace(true);
        }
        if let Some((_, _, older)) = g.pending.take() {
            let _ = older.send(false);
        }
        let (tx, rx) = oneshot::channel();
        g.pending = Some((holder, cancel, tx));
        Admission::Waiting {
            rx,
            held,
            name: name.to_owned(),
        }
    }
}

impl Drop for Held {
    /// Releases the group (admitting the pending holder), or gives up a pending place.
    fn drop(&mut self) {
        let mut groups = lock(&self.groups.0);
        let Some(g) = groups.get_mut(&self.key) else {
            return;
        };
        if g.running.as_ref().is_some_and(|(h, _)| *h == self.holder) {
            g.running = None;
            while let Some((next, cancel, tx)) = g.pending.take() {
                g.running = Some((next, cancel));
                if tx.send(true).is_ok() {
                    break;
                }
                // The pending holder is gone: the group is free again.
                g.running = None;
            }
        } else if g
            .pending
            .as_ref()
            .is_some_and(|(h, _, _)| *h == self.holder)
        {
            g.pending = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch() -> watch::Sender<bool> {
        watch::channel(false).0
    }

    impl Groups {
        async fn acquire(
            &self,
            key: String,
            name: &str,
            holder: u64,
            cancel_in_progress: bool,
            cancel: watch::Sender<bool>,
        ) -> Result<Held, Superseded> {
            self.enqueue(key, name, holder, cancel_in_progress, cancel)
                .admitted()
                .await
        }
    }

    #[tokio::test]
    async fn one_runs_one_waits_and_a_newer_waiter_cancels_the_older() {
        let g = Groups::default();
        let first = g
            .acquire("k".into(), "k", 1, false, switch())
            .await
            .unwrap();
        let (g2, g3) = (g.clone(), g.clone());
        let second =
            tokio::spawn(async move { g2.acquire("k".into(), "k", 2, false, switch()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let third =
            tokio::spawn(async move { g3.acquire("k".into(), "k", 3, false, switch()).await });
        let Err(err) = second.await.unwrap() else {
            panic!("the older pending holder must be cancelled")
        };
        assert!(err.0.contains("higher priority waiting request for 'k'"));
        assert!(
            !third.is_finished(),
            "the newer one waits for the running one"
        );
        drop(first);
        let held = third.await.unwrap().unwrap();
        assert_eq!(held.holder, 3);
        // Another group is independent.
        let _other = g
            .acquire("j".into(), "j", 4, false, switch())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn places_are_taken_in_call_order_and_a_dropped_waiter_gives_its_place_up() {
        let g = Groups::default();
        let first = g.enqueue("k".into(), "k", 1, false, switch());
        assert!(matches!(first, Admission::Now(_)));
        let second = g.enqueue("k".into(), "k", 2, false, switch());
        assert!(matches!(second, Admission::Waiting { .. }));
        // The waiter goes away (its run was cancelled): the running one's release frees the
        // group for the next arrival.
        drop(second);
        drop(first);
        assert!(matches!(
            g.enqueue("k".into(), "k", 3, false, switch()),
            Admission::Now(_)
        ));
    }

    #[tokio::test]
    async fn cancel_in_progress_flips_the_running_holders_switch() {
        let g = Groups::default();
        let (tx, rx) = watch::channel(false);
        let first = g.acquire("k".into(), "k", 1, true, tx).await.unwrap();
        let g2 = g.clone();
        let second =
            tokio::spawn(async move { g2.acquire("k".into(), "k", 2, true, switch()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(*rx.borrow(), "the running holder is told to cancel");
        drop(first);
        assert_eq!(second.await.unwrap().unwrap().holder, 2);
    }
}
