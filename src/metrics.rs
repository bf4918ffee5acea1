//! Process-wide counters for `/metrics`, in the Prometheus text exposition format (version 0.0.4).
//!
//! Written by hand: a handful of atomic counters, one gauge and one histogram do not need a metrics
//! crate and its registry. Every value is a relaxed atomic, so recording costs a few nanoseconds on
//! the hot path (the hub's fan-out, each socket's send) and never takes a lock.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Live sockets open on this node (widget sockets and integrator streams).
pub static SOCKETS_OPEN: AtomicI64 = AtomicI64::new(0);
/// Integrator event streams open on this node.
pub static STREAMS_OPEN: AtomicI64 = AtomicI64::new(0);
/// Events the relay handed to the hub.
pub static EVENTS_PUBLISHED: AtomicU64 = AtomicU64::new(0);
/// Frames written to sockets (live and replayed).
pub static FRAMES_DELIVERED: AtomicU64 = AtomicU64::new(0);
/// Sockets dropped because their queue was full.
pub static SLOW_CONSUMERS_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Sockets closed because their membership or session ended or their role lost the widget.
pub static SOCKETS_CLOSED_BY_AUTHORIZATION: AtomicU64 = AtomicU64::new(0);
/// Resumes served from the outbox, and the events they replayed.
pub static REPLAYS: AtomicU64 = AtomicU64::new(0);
pub static REPLAYED_EVENTS: AtomicU64 = AtomicU64::new(0);
/// Resumes answered with "reload" (too far behind, or beyond the retention window).
pub static REPLAY_RELOADS: AtomicU64 = AtomicU64::new(0);
/// Outbox events deleted by retention.
pub static EVENTS_PRUNED: AtomicU64 = AtomicU64::new(0);

/// Upper bounds of the publish-to-send latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Time from the hub taking an event to a socket writing its frame.
pub static PUBLISH_TO_SEND: Histogram = Histogram::new();

pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            counts: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// The exposition text.
pub fn render() -> String {
    let mut out = String::with_capacity(2048);
    gauge(
        &mut out,
        "portal_live_sockets_open",
        "Widget sockets open on this node.",
        SOCKETS_OPEN.load(Relaxed),
    );
    gauge(
        &mut out,
        "portal_event_streams_open",
        "Integrator event streams open on this node.",
        STREAMS_OPEN.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_events_published_total",
        "Outbox events published to this node's hub.",
        EVENTS_PUBLISHED.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_live_frames_delivered_total",
        "Frames written to sockets, live and replayed.",
        FRAMES_DELIVERED.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_live_slow_consumers_dropped_total",
        "Sockets closed because their queue was full.",
        SLOW_CONSUMERS_DROPPED.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_live_sockets_closed_by_authorization_total",
        "Sockets closed because a membership or session ended or a role lost the widget.",
        SOCKETS_CLOSED_BY_AUTHORIZATION.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_live_replays_total",
        "Resumes served from the outbox.",
        REPLAYS.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_live_replayed_events_total",
        "Events replayed to resuming sockets.",
        REPLAYED_EVENTS.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_live_replay_reloads_total",
        "Resumes answered with reload (too far behind or past retention).",
        REPLAY_RELOADS.load(Relaxed),
    );
    counter(
        &mut out,
        "portal_events_pruned_total",
        "Outbox events deleted by retention on this node.",
        EVENTS_PRUNED.load(Relaxed),
    );
    PUBLISH_TO_SEND.write(
        &mut out,
        "portal_live_publish_to_send_seconds",
        "Time from the hub taking an event to a socket writing its frame.",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(20));
        h.observe(Duration::from_secs(10));
        let mut out = String::new();
        h.write(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.025\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2.5\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }
}
