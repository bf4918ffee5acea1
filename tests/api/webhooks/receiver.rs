//! A webhook receiver in the test process: a real HTTP server on 127.0.0.1 that records every
//! request and answers from a script (then a default), for tests that need precise control over
//! responses (failures, `Retry-After`, 410, redirects, slow answers).

use crate::helpers::DEADLINE;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub webhook_id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
    pub json: serde_json::Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    received: Vec<Received>,
    /// Answer the first webhook-id seen with this reply, this many times.
    fail_first: Option<(Reply, usize, Option<String>)>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

pub struct Receiver {
    pub base: String,
    state: Arc<Mutex<State>>,
    arrived: Arc<tokio::sync::Notify>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// A receiver answering 204 unless scripted otherwise.
    pub async fn spawn() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let shared = state.clone();
        let notify = arrived.clone();
        let server = actix_web::HttpServer::new(move || {
            let shared = shared.clone();
            let notify = notify.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let shared = shared.clone();
                    let notify = notify.clone();
                    async move {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string()
                        };
                        let text = String::from_utf8_lossy(&body).to_string();
                        let reply = {
                            let mut s = shared.lock().unwrap();
                            s.received.push(Received {
                                path: req.path().to_string(),
                                webhook_id: header("webhook-id"),
                                timestamp: header("webhook-timestamp").parse().unwrap_or(0),
                                signature: header("webhook-signature"),
                                json: serde_json::from_str(&text).unwrap_or_default(),
                                body: text,
                            });
                            let id = header("webhook-id");
                            let mut targeted = None;
                            if let Some((reply, left, first)) = s.fail_first.as_mut() {
                                let first = first.get_or_insert_with(|| id.clone());
                                if *first == id && *left > 0 {
                                    *left -= 1;
                                    targeted = Some(reply.clone());
                                }
                            }
                            s.in_flight += 1;
                            s.max_in_flight = s.max_in_flight.max(s.in_flight);
                            targeted
                                .or_else(|| s.script.pop_front())
                                .or_else(|| s.default.clone())
                                .unwrap_or_else(|| Reply::status(204))
                        };
                        notify.notify_waiters();
                        if !reply.delay.is_zero() {
                            tokio::time::sleep(reply.delay).await;
                        }
                        shared.lock().unwrap().in_flight -= 1;
                        let mut res = actix_web::HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(reply.status).unwrap(),
                        );
                        for (k, v) in &reply.headers {
                            res.insert_header((k.as_str(), v.as_str()));
                        }
                        res.body(reply.body)
                    }
                },
            ))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("receiver binds");
        let port = server.addrs()[0].port();
        let server = server.disable_signals().run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
            arrived,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The next answers, in order, before the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Answers the first message (by webhook-id) that arrives with `reply`, `times` times.
    pub fn fail_first_message(&self, reply: Reply, times: usize) {
        self.state.lock().unwrap().fail_first = Some((reply, times, None));
    }

    pub fn set_default(&self, reply: Reply) {
        self.state.lock().unwrap().default = Some(reply);
    }

    /// The most requests this receiver was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits (up to `deadline`) until `done` holds for what was received, and returns it.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let arrival = self.arrived.notified();
            let got = self.received();
            if done(&got) {
                return got;
            }
            if tokio::time::timeout_at(until, arrival).await.is_err() {
                let got = self.received();
                if done(&got) {
                    return got;
                }
                panic!(
                    "receiver: timed out waiting for {what}; got {} request(s): {:?}",
                    got.len(),
                    got.iter()
                        .map(|r| (r.json["type"].clone(), r.webhook_id.clone()))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Returns when the next request arrives, or after `at_most`.
    pub async fn next_arrival(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.arrived.notified()).await;
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_until(DEADLINE, &format!("{n} request(s)"), |r| r.len() >= n)
            .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
