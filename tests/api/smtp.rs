//! A real SMTP server for tests: Python aiosmtpd (`tests/support/smtp_sink.py`) on a free loopback
//! port, as a child process killed when the sink is dropped. Every received message is read from
//! the child's output; tests wait for the one they expect with a deadline and read the code or link
//! out of it.

use crate::helpers::{Backend, DEADLINE, TestApp, python};
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

/// One received message: envelope plus decoded headers and bodies.
#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    #[serde(default)]
    pub authenticated: bool,
}

impl Mail {
    /// The first run of exactly six digits in the plain-text body.
    pub fn code(&self) -> Option<String> {
        let bytes = self.text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i - start == 6 {
                    return Some(self.text[start..i].to_string());
                }
            } else {
                i += 1;
            }
        }
        None
    }

    /// The first URL in the plain-text body that contains `path`.
    pub fn link(&self, path: &str) -> Option<String> {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains(path))
            .map(str::to_string)
    }
}

#[derive(Default)]
struct Inbox {
    /// Messages not yet taken by a test.
    waiting: Vec<Mail>,
    /// Every recipient ever seen, for asserting that something was not sent.
    seen: Vec<String>,
}

pub struct SmtpSink {
    pub port: u16,
    inbox: Arc<Mutex<Inbox>>,
    arrived: Arc<Notify>,
    _child: tokio::process::Child,
}

impl SmtpSink {
    /// Starts a sink, or `None` (skip) when the Python peers are not available here.
    pub async fn start() -> Option<Self> {
        Self::start_with(&[]).await
    }

    /// A sink that requires `SMTP AUTH` with `user:pass`.
    pub async fn start_with_auth(user_pass: &str) -> Option<Self> {
        Self::start_with(&["--auth", user_pass]).await
    }

    async fn start_with(args: &[&str]) -> Option<Self> {
        let python = python()?;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("sink stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("the SMTP sink starts before the deadline")
            .expect("read the sink's output")
            .expect("the sink says it is ready");
        let ready: serde_json::Value = serde_json::from_str(&ready).expect("ready line is JSON");
        let port = ready["ready"].as_u64().expect("sink port") as u16;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let arrived = Arc::new(Notify::new());
        let (inbox2, arrived2) = (inbox.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(mail) = serde_json::from_str::<Mail>(&line) else {
                    continue;
                };
                {
                    let mut inbox = inbox2.lock().expect("inbox lock");
                    inbox.seen.extend(mail.rcpt_tos.iter().cloned());
                    inbox.waiting.push(mail);
                }
                arrived2.notify_waiters();
            }
        });
        Some(Self {
            port,
            inbox,
            arrived,
            _child: child,
        })
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP, as a local relay speaks it).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next message to `to`, waiting at most `deadline`; the message is taken from the inbox.
    pub async fn wait_for_message(&self, to: &str, deadline: Duration) -> Mail {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut inbox = self.inbox.lock().expect("inbox lock");
                if let Some(i) = inbox
                    .waiting
                    .iter()
                    .position(|m| m.rcpt_tos.iter().any(|r| r.eq_ignore_ascii_case(to)))
                {
                    return inbox.waiting.remove(i);
                }
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                panic!("no mail to {to} arrived within {deadline:?}");
            }
        }
    }

    /// How many messages to `to` the sink has received so far.
    pub fn received_for(&self, to: &str) -> usize {
        let inbox = self.inbox.lock().expect("inbox lock");
        inbox
            .seen
            .iter()
            .filter(|r| r.eq_ignore_ascii_case(to))
            .count()
    }
}

/// A server whose mail goes to a fresh SMTP sink, or `None` when a prerequisite is missing here.
pub async fn app_with_mail(backend: Backend) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start().await?;
    let url = sink.url();
    let app = TestApp::spawn_with(backend, move |s| s.smtp_url = Some(url)).await?;
    Some((app, sink))
}
