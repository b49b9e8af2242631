//! A call's progress: what the guest reports (items done, for batch tools) and what the host
//! sees (a wait for the rate limit), turned into MCP progress values, which must increase
//! with every notification.

/// One report about a running call.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// `done` of `total` items are done; `message` says what the last one came to.
    Items {
        done: u32,
        total: u32,
        message: String,
    },
    /// The call is waiting for a request slot.
    Waiting(String),
}

pub type ProgressSender = tokio::sync::mpsc::UnboundedSender<Progress>;

/// Turns a call's reports into the values of its notifications.
#[derive(Debug, Default)]
pub struct Values {
    last: Option<f64>,
    total: Option<f64>,
}

impl Values {
    /// The progress value and total of the notification for `report`, or `None` when it
    /// would not move the value on (a report that repeats the last count).
    pub fn next(&mut self, report: &Progress) -> Option<(f64, Option<f64>)> {
        let value = match report {
            Progress::Items { done, total, .. } => {
                self.total = Some(f64::from(*total));
                f64::from(*done)
            }
            // Halfway from the last value to the next whole one: a wait moves the value
            // without claiming an item, and the item that follows still moves it further.
            Progress::Waiting(_) => {
                let last = self.last.unwrap_or(0.0);
                last + (last.floor() + 1.0 - last) / 2.0
            }
        };
        if self.last.is_some_and(|last| value <= last) {
            return None;
        }
        self.last = Some(value);
        Some((value, self.total))
    }
}

impl Progress {
    pub fn message(&self) -> &str {
        match self {
            Progress::Items { message, .. } | Progress::Waiting(message) => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_only_increase_and_waits_never_claim_an_item() {
        let mut values = Values::default();
        let wait = Progress::Waiting("w".into());
        let item = |done| Progress::Items {
            done,
            total: 3,
            message: String::new(),
        };
        assert_eq!(values.next(&wait), Some((0.5, None)));
        assert_eq!(values.next(&wait), Some((0.75, None)));
        assert_eq!(values.next(&item(1)), Some((1.0, Some(3.0))));
        assert_eq!(values.next(&item(1)), None);
        assert_eq!(values.next(&wait), Some((1.5, Some(3.0))));
        assert_eq!(values.next(&item(2)), Some((2.0, Some(3.0))));
    }
}
