//! The instance supply: the next call's fresh instance is made ahead of time, and a finished
//! call's instance is torn down after its answer has gone, both on a helper thread.
//!
//! Every call still runs in an instance no other call has touched; only the work around it
//! moves off the call path. Making an instance (store, instantiation, function tables) and
//! tearing one down (returning its memory to the pool, which resets it) cost about as much
//! as the call's own guest work, and with a second core they now overlap with it.
//!
//! Waking the helper costs the calling thread a system call and the machine an
//! inter-processor interrupt, so it is woken once per call, when the call is done. Two
//! spares are kept so that the next call finds one even while the helper is still busy.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

use super::state::CallState;
use crate::bindings::Server;

/// How many spare instances the helper keeps ready.
pub const SPARES: usize = 2;

/// A fresh instance and the store that owns it.
pub struct Instance {
    pub store: Store<CallState>,
    pub server: Server,
}

/// Makes one fresh instance; runs on the helper thread.
pub type Make = Box<dyn Fn() -> anyhow::Result<Instance> + Send>;

/// A finished call's store, torn down before its call slot is given back.
struct Retired(Store<CallState>, OwnedSemaphorePermit);

/// Up to [`SPARES`] spare instances, and the helper thread that keeps them stocked.
pub struct Supply {
    spares: Arc<Mutex<Vec<Instance>>>,
    retired: mpsc::Sender<Retired>,
}

impl Supply {
    /// Starts the helper thread, which makes the first spares.
    pub fn start(make: Make) -> anyhow::Result<Self> {
        let spares = Arc::new(Mutex::new(Vec::with_capacity(SPARES)));
        let (retired, inbox) = mpsc::channel();
        let stock = Arc::clone(&spares);
        std::thread::Builder::new()
            .name("instance-supply".into())
            .spawn(move || serve(&inbox, &stock, &make))?;
        Ok(Self { spares, retired })
    }

    /// A spare instance, if one is ready. The helper restocks when the call retires.
    pub fn take(&self) -> Option<Instance> {
        lock(&self.spares).pop()
    }

    /// Hands a finished call's store to the helper, which tears it down and restocks. The
    /// call slot (`permit`) is given back only once the store is gone, so stores waiting to
    /// be torn down count against the concurrency limit and can never exhaust the pool.
    pub fn retire(&self, store: Store<CallState>, permit: OwnedSemaphorePermit) {
        // If the helper is gone (only when the supply is dropped), the store is dropped here.
        let _ = self.retired.send(Retired(store, permit));
    }
}

fn lock(spares: &Mutex<Vec<Instance>>) -> MutexGuard<'_, Vec<Instance>> {
    // A panic while holding the lock leaves at worst fewer spares, which is a valid state.
    spares.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The helper thread: stocks the spares, then for each retired store tears it down and
/// restocks.
fn serve(inbox: &mpsc::Receiver<Retired>, spares: &Mutex<Vec<Instance>>, make: &Make) {
    restock(spares, make);
    for Retired(store, permit) in inbox {
        drop(store);
        drop(permit);
        restock(spares, make);
    }
}

fn restock(spares: &Mutex<Vec<Instance>>, make: &Make) {
    while lock(spares).len() < SPARES {
        match make() {
            Ok(instance) => lock(spares).push(instance),
            Err(error) => {
                // Calls then instantiate for themselves and report the error if it persists.
                tracing::warn!(error = %format!("{error:#}"), "could not make a spare instance");
                return;
            }
        }
    }
}
