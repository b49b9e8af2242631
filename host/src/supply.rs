//! The instance supply: the next call's fresh instance is made ahead of time, and a finished
//! call's instance is torn down after its answer has gone, both on a helper thread.
//!
//! Every call still runs in an instance no other call has touched; only the work around it
//! moves off the call path. Making an instance (store, instantiation, function tables) and
//! tearing one down (returning its memory to the pool, which resets it) cost about as much
//! as the call's own guest work, and with a second core they now overlap with it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

use crate::bindings::Server;
use crate::runtime::CallState;

/// A fresh instance and the store that owns it.
pub struct Instance {
    pub store: Store<CallState>,
    pub server: Server,
}

/// Makes one fresh instance; runs on the helper thread.
pub type Make = Box<dyn Fn() -> anyhow::Result<Instance> + Send>;

enum Job {
    /// Tear down a finished call's store, then give back its call slot.
    Retire(Store<CallState>, OwnedSemaphorePermit),
    /// The spare was taken: make the next one.
    Refill,
}

/// At most one spare instance, and the helper thread that keeps it stocked.
pub struct Supply {
    spare: Arc<Mutex<Option<Instance>>>,
    jobs: mpsc::Sender<Job>,
}

impl Supply {
    /// Starts the helper thread and has it make the first spare.
    pub fn start(make: Make) -> anyhow::Result<Self> {
        let spare = Arc::new(Mutex::new(None));
        let (jobs, inbox) = mpsc::channel();
        let stock = Arc::clone(&spare);
        std::thread::Builder::new()
            .name("instance-supply".into())
            .spawn(move || serve(&inbox, &stock, &make))?;
        let supply = Self { spare, jobs };
        supply.send(Job::Refill);
        Ok(supply)
    }

    /// The spare instance, if one is ready; the helper starts on the next at once.
    pub fn take(&self) -> Option<Instance> {
        let taken = lock(&self.spare).take();
        if taken.is_some() {
            self.send(Job::Refill);
        }
        taken
    }

    /// Hands a finished call's store to the helper. The call slot (`permit`) is given back
    /// only once the store is gone, so stores waiting to be torn down count against the
    /// concurrency limit and can never exhaust the instance pool.
    pub fn retire(&self, store: Store<CallState>, permit: OwnedSemaphorePermit) {
        self.send(Job::Retire(store, permit));
    }

    fn send(&self, job: Job) {
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // The helper is gone (it only stops when the supply is dropped): do the work here.
            drop(job);
        }
    }
}

fn lock(spare: &Mutex<Option<Instance>>) -> std::sync::MutexGuard<'_, Option<Instance>> {
    // A panic while holding the lock leaves at worst no spare, which is a valid state.
    spare.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The helper thread: tears down retired stores and keeps one spare ready.
fn serve(inbox: &mpsc::Receiver<Job>, spare: &Mutex<Option<Instance>>, make: &Make) {
    for job in inbox {
        if let Job::Retire(store, permit) = job {
            drop(store);
            drop(permit);
        }
        if lock(spare).is_some() {
            continue;
        }
        match make() {
            Ok(instance) => *lock(spare) = Some(instance),
            // Calls then instantiate for themselves and report the error if it persists.
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "could not make a spare instance")
            }
        }
    }
}
