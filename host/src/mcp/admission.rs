//! Bytes in flight: the arguments of every call admitted and not yet answered, bounded by
//! LUNATASK_MAX_PENDING_BYTES. With the API stalled, calls pile up waiting (for the rate
//! limit, a sandbox slot or the API) and each holds its arguments and their copies; without
//! a bound, a client sending large arguments fills the machine's memory. Beyond the bound a
//! call is refused at once with a retryable `overloaded` error.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sandbox::Stop;

pub struct PendingBytes {
    budget: Arc<Semaphore>,
    limit: usize,
}

impl PendingBytes {
    pub fn new(limit: usize) -> Self {
        Self {
            budget: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
            limit,
        }
    }

    /// Reserves `bytes` until the returned permit is dropped (when the call is answered or
    /// cancelled), or says why it cannot.
    pub fn admit(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Stop> {
        let overloaded = || Stop::Overloaded {
            setting: "LUNATASK_MAX_PENDING_BYTES",
            message: format!(
                "the arguments of the calls in progress and this one's ({bytes} bytes) would \
                 exceed {} bytes",
                self.limit
            ),
        };
        let bytes = u32::try_from(bytes.max(1)).map_err(|_| overloaded())?;
        Arc::clone(&self.budget)
            .try_acquire_many_owned(bytes)
            .map_err(|_| overloaded())
    }
}
