//! Background tasks that shutdown stops between two pieces of their work, not in the middle of
//! one: a checkpoint being stored is also sent to its sink, a message being sent is also marked
//! sent (else the next instance sends it again).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long shutdown waits for a task to finish the piece of work in progress.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What a task is told: whether, and when, to stop.
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Whether the task has been asked to stop.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the task is asked to stop.
    pub async fn stopped(&mut self) {
        // An error: the sender is gone, so no one will ask any more; stop all the same.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// A running background task and the way to stop it.
pub struct Stoppable {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Stoppable {
    /// Spawns the task `work` makes of its [`StopSignal`].
    pub fn spawn<F, Fut>(work: F) -> Stoppable
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, signal) = watch::channel(false);
        Stoppable {
            stop,
            task: tokio::spawn(work(StopSignal(signal))),
        }
    }

    /// Asks it to stop and waits for it to finish the piece of work in progress; gives up on it
    /// after [`STOP_WAIT`].
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_WAIT, self.task).await.is_err() {
            abort.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_task_asked_to_stop_finishes_the_piece_of_work_in_progress() {
        let done = Arc::new(AtomicUsize::new(0));
        let counted = done.clone();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let task = Stoppable::spawn(move |signal| async move {
            let _ = started_tx.send(());
            while !signal.is_stopped() {
                // A piece of work that stop must not cut.
                tokio::time::sleep(Duration::from_millis(200)).await;
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        started.await.expect("started");
        task.stop().await;
        assert_eq!(
            done.load(Ordering::SeqCst),
            1,
            "the piece in progress was finished"
        );
    }
}
