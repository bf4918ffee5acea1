//! The Standard Webhooks receiver of `tests/support/webhook_receiver.py`, run as a child process:
//! every delivery is verified by the third-party `standardwebhooks` library and reported as a
//! JSON line, which this side collects.

use crate::helpers;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct PyReceiver {
    pub url: String,
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<Vec<Value>>>,
    arrived: Arc<tokio::sync::Notify>,
    control_seq: u64,
}

impl PyReceiver {
    /// Starts the receiver, failing `fail_rate` of requests (at most `max_failures` times per
    /// webhook-id). `None` when there is no Python with the test peers (skipped outside CI).
    pub async fn spawn(fail_rate: f64, max_failures: u32) -> Option<Self> {
        let python = helpers::python()?;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/webhook_receiver.py"
        );
        let mut child = Command::new(python)
            .arg(script)
            .arg(fail_rate.to_string())
            .arg(max_failures.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python webhook receiver");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take().expect("stdin");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let (sink, notify) = (lines.clone(), arrived.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(value);
                    notify.notify_waiters();
                }
            }
        });
        let mut receiver = Self {
            url: String::new(),
            child,
            stdin,
            lines,
            arrived,
            control_seq: 0,
        };
        let port = receiver
            .wait_line(helpers::DEADLINE * 3, "the receiver's port", |v| {
                v.get("port").is_some()
            })
            .await["port"]
            .as_u64()
            .expect("port");
        receiver.url = format!("http://127.0.0.1:{port}/hooks");
        Some(receiver)
    }

    /// Verify with these secrets from now on (each alone, reported by name).
    pub async fn set_secrets(&mut self, secrets: &[(&str, &str)]) {
        self.control_seq += 1;
        let seq = self.control_seq;
        let map: serde_json::Map<String, Value> = secrets
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        writeln!(self.stdin, "{}", json!({ "secrets": map, "seq": seq })).expect("control");
        self.stdin.flush().expect("control flush");
        self.wait_line(helpers::DEADLINE, "the receiver's ack", |v| v["ack"] == seq)
            .await;
    }

    /// Deliveries reported so far.
    pub fn deliveries(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v.get("webhook_id").is_some())
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for the deliveries reported so far, and returns them.
    pub async fn wait_deliveries(
        &self,
        deadline: Duration,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let arrival = self.arrived.notified();
            let got = self.deliveries();
            if done(&got) {
                return got;
            }
            if tokio::time::timeout_at(until, arrival).await.is_err() && !done(&self.deliveries()) {
                panic!(
                    "Python receiver: timed out waiting for {what}; {} deliveries so far",
                    self.deliveries().len()
                );
            }
        }
    }

    async fn wait_line(
        &self,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let arrival = self.arrived.notified();
            if let Some(found) = self.lines.lock().unwrap().iter().find(|v| pred(v)).cloned() {
                return found;
            }
            if tokio::time::timeout_at(until, arrival).await.is_err() {
                panic!("Python receiver: timed out waiting for {what}");
            }
        }
    }
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
