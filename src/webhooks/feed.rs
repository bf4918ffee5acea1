//! [`DeliveryFeed`]: "this delivery just changed", from the dispatcher of this node to the open
//! delivery-log pages. A hint for promptness only: the log stream also polls the database, which
//! is how it hears about attempts made by other nodes, so a lagging or lost hint costs nothing.

use tokio::sync::broadcast;

/// Hints buffered per listener; a listener that falls further behind skips to the poll.
const CAPACITY: usize = 256;

#[derive(Debug, Clone)]
pub struct DeliveryChanged {
    pub endpoint_id: String,
    pub delivery_id: String,
}

#[derive(Debug, Clone)]
pub struct DeliveryFeed(broadcast::Sender<DeliveryChanged>);

impl Default for DeliveryFeed {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl DeliveryFeed {
    /// Announces a change; never blocks, and is a no-op with no listeners.
    pub fn publish(&self, endpoint_id: &str, delivery_id: &str) {
        let _ = self.0.send(DeliveryChanged {
            endpoint_id: endpoint_id.into(),
            delivery_id: delivery_id.into(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DeliveryChanged> {
        self.0.subscribe()
    }
}
