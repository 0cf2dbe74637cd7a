//! What a child has sent on `NOTIFY_SOCKET` since the loop last looked,
//! coalesced, so a child that floods the socket queues at most one message.

use super::state::{Event, Generation};
use crate::sd_notify::Message;

/// A child's news since the loop last took it.
#[derive(Debug, Default)]
pub struct Mailbox {
    ready: bool,
    /// The latest `STATUS=` text.
    status: Option<String>,
    /// `STATUS=` texts replaced by a later one before the loop saw them.
    skipped: usize,
    /// Whether the loop has been told of this mailbox and not taken it yet.
    queued: bool,
}

impl Mailbox {
    /// Keeps what `message` says; returns whether the loop must be told
    /// (it has not been told of this mailbox since it last took it).
    pub fn put(&mut self, message: Message) -> bool {
        self.ready |= message.ready;
        if let Some(text) = message.status {
            if self.status.replace(text).is_some() {
                self.skipped += 1;
            }
        }
        !std::mem::replace(&mut self.queued, true)
    }

    /// Takes the news of `generation`, as events for the supervisor: the
    /// latest `STATUS=` (with how many were skipped), then `READY=1`.
    pub fn take(&mut self, generation: Generation) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(text) = self.status.take() {
            let text = match std::mem::take(&mut self.skipped) {
                0 => text,
                skipped => format!("{text} ({skipped} earlier not shown)"),
            };
            events.push(Event::Status { generation, text });
        }
        if std::mem::take(&mut self.ready) {
            events.push(Event::Ready { generation });
        }
        self.queued = false;
        events
    }
}
