//! Signed webhooks: the management API, Standard Webhooks signatures checked by a third-party
//! verifier, retries and the ordering rule, SSRF refusals, leases across nodes, the delivery log,
//! and a `kill -9` in the middle of delivering a thousand events — on SQLite and PostgreSQL.

mod python;
mod receiver;

use crate::helpers::*;
use crate::on_both_backends;
use portal::actors::webhook_dispatcher::WebhookDispatcher;
use portal::actors::webhook_fanout::{Outcome, WebhookFanout};
use portal::db::entities::{event, webhook_attempt, webhook_delivery, webhook_endpoint};
use portal::db::events::NewEvent;
use portal::db::{self, Db};
use portal::sealing::DataKey;
use portal::webhooks::manage::{self, EndpointInput};
use portal::webhooks::{AllowList, EventTypeFilter, Timing, WebhookContext, WebhookUrl};
use python::PyReceiver;
use receiver::{Receiver, Reply};
use reqwest::StatusCode;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    endpoint_lifecycle_shows_the_secret_only_on_create_and_rotate,
    create_with_an_idempotency_key_returns_the_same_endpoint,
    webhook_api_rejects_bad_input_with_clear_json_errors,
    literal_private_addresses_are_refused_at_create_and_update,
    a_name_resolving_to_loopback_is_refused_at_delivery_time,
    allow_listed_names_may_use_http_and_loopback,
    redirects_are_not_followed_and_count_as_failures,
    every_delivery_verifies_with_standardwebhooks_including_during_rotation,
    events_reach_only_matching_enabled_endpoints_in_the_standard_envelope,
    failed_attempts_are_recorded_and_retried_with_the_same_webhook_id,
    a_slow_receiver_times_out_and_is_retried,
    attempts_in_flight_never_exceed_the_concurrency,
    retry_after_is_honoured_on_429_and_503,
    gone_disables_the_endpoint_publishes_an_event_and_re_enabling_resumes,
    an_endpoint_failing_for_five_days_is_disabled,
    one_organizations_deliveries_wait_for_a_pending_retry_and_others_do_not,
    replay_resends_one_delivery_or_every_failure_since_a_time,
    delivery_log_link_opens_the_page_and_streams_new_attempts,
    several_dispatchers_never_attempt_the_same_delivery_twice,
    an_attempt_lost_with_its_node_is_retried_by_another_after_the_lease,
    only_one_fanout_advances_the_cursor_and_a_new_one_resumes_from_it,
    portal_killed_mid_delivery_loses_no_event,
);

/// The retry schedule in milliseconds: 0, 5 ms, 300 ms, 1.8 s, …
const FAST: f64 = 0.001;
/// The whole schedule (eight attempts) in about a second.
const FASTER: f64 = 0.00001;

async fn spawn(backend: Backend, scale: f64) -> Option<TestApp> {
    TestApp::spawn_with(backend, |s| {
        s.webhooks.allow_hosts = "127.0.0.1".into();
        s.webhooks.retry_scale = scale;
    })
    .await
}

/// The management API with one token.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp) -> Self {
        Self {
            token: app.api_token().await,
            app,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let res = req.bearer_auth(&self.token).send().await.expect("API call");
        let status = res.status();
        let text = res.text().await.expect("API body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.app.http().get(self.app.url(path))).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.app.http().post(self.app.url(path)).json(&body))
            .await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.app.http().patch(self.app.url(path)).json(&body))
            .await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.app.http().delete(self.app.url(path))).await
    }

    /// Creates an endpoint and returns the answer (with its secret).
    async fn create_endpoint(&self, url: &str, types: &[&str]) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/webhooks",
                json!({ "url": url, "event_types": types }),
            )
            .await;
        assert_eq!(status, 201, "create endpoint: {body}");
        body
    }

    async fn add_user(&self, org_id: &str, email: &str) {
        let (status, body) = self
            .post(
                &format!("/api/v1/organizations/{org_id}/users"),
                json!({ "email": email, "name": "Webhook Test" }),
            )
            .await;
        assert_eq!(status, 201, "add user: {body}");
    }

    async fn deliveries(&self, endpoint_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!(
                "/api/v1/webhooks/{endpoint_id}/deliveries?limit=100"
            ))
            .await;
        assert_eq!(status, 200, "deliveries: {body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Polls the delivery list (with a deadline) until `done` holds.
    async fn wait_deliveries(
        &self,
        endpoint_id: &str,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        eventually(what, DEADLINE * 2, || async {
            let rows = self.deliveries(endpoint_id).await;
            done(&rows).then_some(rows)
        })
        .await
    }
}

/// Checks `probe` every 20 ms until it yields a value, failing after `deadline`.
async fn eventually<T, F, Fut>(what: &str, deadline: Duration, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

// ---------------------------------------------------------------------------------------------
// The management API

async fn endpoint_lifecycle_shows_the_secret_only_on_create_and_rotate(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let (status, created) = api
        .post(
            "/api/v1/webhooks",
            json!({
                "url": "https://hooks.example.com/portal",
                "description": "CRM sync",
                "event_types": ["user.*", "webhook.endpoint_disabled"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = id_of(&created);
    assert!(id.starts_with("whe_"));
    let secret = created["secret"].as_str().expect("secret").to_string();
    let parsed = portal::webhooks::WebhookSecret::parse(&secret).expect("whsec_ secret");
    assert!(parsed.as_bytes().len() >= 24, "at least 24 random bytes");
    assert_eq!(
        created["event_types"],
        json!(["user.*", "webhook.endpoint_disabled"])
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["description"], "CRM sync");

    let (status, fetched) = api.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        fetched.get("secret").is_none(),
        "GET never shows the secret"
    );
    assert_eq!(fetched["url"], "https://hooks.example.com/portal");

    // At rest the secret is sealed: neither it nor its key bytes appear in the row.
    let row = webhook_endpoint::Entity::find_by_id(&id)
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    assert!(row.secret.starts_with("v1."));
    assert!(!row.secret.contains(&secret[6..]) && !row.secret.contains("whsec_"));

    for extra in ["https://a.example.com/1", "https://a.example.com/2"] {
        api.create_endpoint(extra, &["*"]).await;
    }
    let (_, page1) = api.get("/api/v1/webhooks?limit=2").await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    assert!(
        page1["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("secret").is_none())
    );
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (_, page2) = api
        .get(&format!("/api/v1/webhooks?limit=2&after={cursor}"))
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert!(page2.get("next_cursor").is_none());

    let (status, patched) = api
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            json!({ "description": "CRM", "event_types": ["user.created"], "enabled": false }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["description"], "CRM");
    assert_eq!(patched["event_types"], json!(["user.created"]));
    assert_eq!(patched["enabled"], false);

    let (status, rotated) = api
        .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let overlap_until = chrono::DateTime::parse_from_rfc3339(
        rotated["previous_secret_expires_at"].as_str().unwrap(),
    )
    .unwrap();
    let hours = (overlap_until.timestamp() - chrono::Utc::now().timestamp()) as f64 / 3600.0;
    assert!(
        (23.9..=24.1).contains(&hours),
        "default overlap is 24 h, got {hours}"
    );
    let (_, fetched) = api.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(
        fetched["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );
    let (_, rotated_now) = api
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            json!({ "overlap_seconds": 0 }),
        )
        .await;
    assert!(rotated_now["previous_secret_expires_at"].is_null());

    let (status, _) = api.delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 204);
    let (status, body) = api.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = api.delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);
}

async fn create_with_an_idempotency_key_returns_the_same_endpoint(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let create = |key: &'static str, url: &'static str| {
        api.send(
            app.http()
                .post(app.url("/api/v1/webhooks"))
                .header("Idempotency-Key", key)
                .json(&json!({ "url": url, "event_types": ["user.*"] })),
        )
    };
    let (first_status, first) = create("crm-1", "https://hooks.example.com/a").await;
    assert_eq!(first_status, 201, "{first}");
    let (again_status, again) = create("crm-1", "https://hooks.example.com/a").await;
    assert_eq!(
        again_status, 200,
        "a retry answers 200 with the same endpoint"
    );
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["secret"], first["secret"]);
    let (conflict_status, conflict) = create("crm-1", "https://hooks.example.com/other").await;
    assert_eq!(conflict_status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");
    let (other_status, other) = create("crm-2", "https://hooks.example.com/a").await;
    assert_eq!(other_status, 201);
    assert_ne!(other["id"], first["id"], "another key is another endpoint");
    let (_, list) = api.get("/api/v1/webhooks").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
}

async fn webhook_api_rejects_bad_input_with_clear_json_errors(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let res = app
        .http()
        .get(app.url("/api/v1/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let api = Api::new(&app).await;
    let cases = [
        (
            json!({ "event_types": ["user.*"] }),
            Some("url"),
            "url is required",
        ),
        (
            json!({ "url": "http://hooks.example.com/", "event_types": ["user.*"] }),
            Some("url"),
            "https",
        ),
        (
            json!({ "url": "nonsense", "event_types": ["user.*"] }),
            Some("url"),
            "valid",
        ),
        (
            json!({ "url": "https://hooks.example.com/" }),
            Some("event_types"),
            "required",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "event_types": [] }),
            Some("event_types"),
            "at least one",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "event_types": ["user created"] }),
            Some("event_types"),
            "not an event type",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "event_types": ["*"], "description": "x".repeat(501) }),
            Some("description"),
            "500",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "event_types": ["*"], "secret": "mine" }),
            None,
            "unknown field",
        ),
    ];
    for (body, field, words) in cases {
        let (status, answer) = api.post("/api/v1/webhooks", body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request");
        assert_eq!(answer["error"]["field"].as_str(), field, "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(words),
            "{answer} should mention {words}"
        );
    }
    let (status, answer) = api
        .send(
            app.http()
                .post(app.url("/api/v1/webhooks"))
                .header("Idempotency-Key", "x".repeat(300))
                .json(&json!({ "url": "https://hooks.example.com/", "event_types": ["*"] })),
        )
        .await;
    assert_eq!(status, 422, "{answer}");

    for (path, code) in [
        ("/api/v1/webhooks/whe_missing", 404),
        ("/api/v1/webhooks/whe_missing/deliveries", 404),
    ] {
        let (status, answer) = api.get(path).await;
        assert_eq!(status, code, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
    }
    let (status, _) = api
        .patch("/api/v1/webhooks/whe_missing", json!({ "enabled": true }))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post("/api/v1/webhooks/whe_missing/rotate-secret", json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post("/api/v1/webhooks/whe_missing/log-link", json!({}))
        .await;
    assert_eq!(status, 404);

    let endpoint = api
        .create_endpoint("https://hooks.example.com/", &["*"])
        .await;
    let id = id_of(&endpoint);
    for (body, field) in [
        (json!({}), None),
        (
            json!({ "since": "yesterday", "status": "failed" }),
            Some("since"),
        ),
        (
            json!({ "since": "2026-01-01T00:00:00Z", "status": "succeeded" }),
            Some("status"),
        ),
        (
            json!({ "delivery_id": "whd_1", "since": "2026-01-01T00:00:00Z" }),
            None,
        ),
    ] {
        let (status, answer) = api
            .post(&format!("/api/v1/webhooks/{id}/replay"), body.clone())
            .await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{answer}");
    }
    let (status, answer) = api
        .post(
            &format!("/api/v1/webhooks/{id}/replay"),
            json!({ "delivery_id": "whd_missing" }),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = api
        .get(&format!("/api/v1/webhooks/{id}/deliveries?status=bogus"))
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .get(&format!("/api/v1/webhooks/{id}/deliveries?limit=0"))
        .await;
    assert_eq!(status, 422);
    let (status, answer) = api
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            json!({ "overlap_seconds": 8 * 24 * 3600 }),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "overlap_seconds");
    let (status, _) = api
        .send(
            app.http()
                .post(app.url(&format!("/api/v1/webhooks/{id}/rotate-secret")))
                .body("{not json"),
        )
        .await;
    assert_eq!(status, 422);
    let (status, answer) = api
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            json!({ "url": "ftp://x/" }),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "url");
}

// ---------------------------------------------------------------------------------------------
// SSRF

async fn literal_private_addresses_are_refused_at_create_and_update(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    for url in [
        "https://10.0.0.1/hook",
        "https://172.16.0.5/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://127.0.0.2/hook",
        "https://0x7f000002/hook",
        "https://[::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://224.0.0.1/hook",
    ] {
        let (status, answer) = api
            .post(
                "/api/v1/webhooks",
                json!({ "url": url, "event_types": ["*"] }),
            )
            .await;
        assert_eq!(status, 422, "{url} must be refused: {answer}");
        assert_eq!(answer["error"]["field"], "url");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("non-public"),
            "{answer}"
        );
    }
    // The allow list (127.0.0.1 in these tests) admits exactly what it names, http included.
    let allowed = api.create_endpoint("http://127.0.0.1:9/hook", &["*"]).await;
    let (status, answer) = api
        .patch(
            &format!("/api/v1/webhooks/{}", id_of(&allowed)),
            json!({ "url": "https://192.168.0.1/" }),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let (_, still) = api
        .get(&format!("/api/v1/webhooks/{}", id_of(&allowed)))
        .await;
    assert_eq!(still["url"], "http://127.0.0.1:9/hook");
}

async fn a_name_resolving_to_loopback_is_refused_at_delivery_time(backend: Backend) {
    // No allow list at all: nothing private is reachable.
    let Some(app) = TestApp::spawn_with(backend, |s| s.webhooks.retry_scale = FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    // A public-looking https URL whose name resolves to 127.0.0.1: accepted at create time (names
    // are resolved at delivery), refused by the resolver before any connection.
    let endpoint = api
        .create_endpoint(
            &format!("https://localhost:{}/hook", receiver.port()),
            &["user.created"],
        )
        .await;
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "ssrf-dns@example.test").await;
    let rows = api
        .wait_deliveries(&id_of(&endpoint), "a refused attempt", |rows| {
            rows.first()
                .is_some_and(|d| !d["attempts"].as_array().unwrap().is_empty())
        })
        .await;
    let attempt = &rows[0]["attempts"][0];
    assert!(attempt["status_code"].is_null(), "no response: {attempt}");
    let error = attempt["error"].as_str().unwrap();
    assert!(
        error.contains(
            "localhost resolves only to loopback, private or otherwise non-public addresses"
        ),
        "{error}"
    );
    assert_eq!(
        rows[0]["status"], "pending",
        "refused attempts are retried like failures"
    );
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

async fn allow_listed_names_may_use_http_and_loopback(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.webhooks.allow_hosts = "localhost".into();
        s.webhooks.retry_scale = FAST;
    })
    .await
    else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    let (status, answer) = api
        .post(
            "/api/v1/webhooks",
            json!({ "url": format!("http://127.0.0.1:{}/hook", receiver.port()), "event_types": ["*"] }),
        )
        .await;
    assert_eq!(
        status, 422,
        "the address itself is not on the list: {answer}"
    );
    let endpoint = api
        .create_endpoint(
            &format!("http://localhost:{}/hook", receiver.port()),
            &["user.created"],
        )
        .await;
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "allowed@example.test").await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json["type"], "user.created");
    api.wait_deliveries(&id_of(&endpoint), "a success", |rows| {
        rows.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
}

async fn redirects_are_not_followed_and_count_as_failures(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let target = Receiver::spawn().await;
    let bouncer = Receiver::spawn().await;
    bouncer.set_default(Reply::status(307).header("Location", &target.url("/stolen")));
    let endpoint = api
        .create_endpoint(&bouncer.url("/hook"), &["user.created"])
        .await;
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "redirect@example.test").await;
    bouncer.wait_for(2).await;
    let rows = api
        .wait_deliveries(&id_of(&endpoint), "two recorded attempts", |rows| {
            rows.first()
                .is_some_and(|d| d["attempts"].as_array().unwrap().len() >= 2)
        })
        .await;
    for attempt in rows[0]["attempts"].as_array().unwrap() {
        assert_eq!(attempt["status_code"], 307);
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .contains("redirect not followed")
        );
    }
    assert_eq!(rows[0]["status"], "pending");
    assert!(
        target.received().is_empty(),
        "the redirect target was never called"
    );
}

// ---------------------------------------------------------------------------------------------
// Delivery

async fn every_delivery_verifies_with_standardwebhooks_including_during_rotation(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let Some(mut receiver) = PyReceiver::spawn(0.0, 0).await else {
        return;
    };
    let api = Api::new(&app).await;
    let acme = app.org_id("Acme").await;
    let endpoint = api.create_endpoint(&receiver.url, &["user.*"]).await;
    let id = id_of(&endpoint);
    let first = endpoint["secret"].as_str().unwrap().to_string();
    receiver.set_secrets(&[("first", &first)]).await;

    api.add_user(&acme, "verify-1@example.test").await;
    let got = receiver
        .wait_deliveries(DEADLINE, "two deliveries", |d| d.len() >= 2)
        .await;
    for d in &got {
        assert_eq!(d["verified"]["first"], true, "{d}");
        assert_eq!(d["signatures"], 1);
        assert_eq!(d["webhook_id"], d["body_id"]);
    }

    // During the overlap both secrets sign: a receiver holding either one verifies.
    let (_, rotated) = api
        .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    let second = rotated["secret"].as_str().unwrap().to_string();
    receiver
        .set_secrets(&[("first", &first), ("second", &second)])
        .await;
    api.add_user(&acme, "verify-2@example.test").await;
    let got = receiver
        .wait_deliveries(DEADLINE, "four deliveries", |d| d.len() >= 4)
        .await;
    for d in &got[2..] {
        assert_eq!(d["signatures"], 2, "{d}");
        assert_eq!(
            d["verified"]["first"], true,
            "old secret still verifies: {d}"
        );
        assert_eq!(d["verified"]["second"], true, "new secret verifies: {d}");
    }

    // With no overlap the old secret stops signing at once.
    let (_, rotated) = api
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            json!({ "overlap_seconds": 0 }),
        )
        .await;
    let third = rotated["secret"].as_str().unwrap().to_string();
    receiver
        .set_secrets(&[("second", &second), ("third", &third)])
        .await;
    api.add_user(&acme, "verify-3@example.test").await;
    let got = receiver
        .wait_deliveries(DEADLINE, "six deliveries", |d| d.len() >= 6)
        .await;
    for d in &got[4..] {
        assert_eq!(d["signatures"], 1, "{d}");
        assert_eq!(d["verified"]["third"], true, "{d}");
        assert_eq!(
            d["verified"]["second"], false,
            "a retired secret does not verify: {d}"
        );
    }
    assert_eq!(got.len(), 6, "one delivery per event");
}

async fn events_reach_only_matching_enabled_endpoints_in_the_standard_envelope(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let exact = Receiver::spawn().await;
    let prefix = Receiver::spawn().await;
    let other = Receiver::spawn().await;
    let disabled = Receiver::spawn().await;
    let exact_ep = api
        .create_endpoint(&exact.url("/e"), &["user.created"])
        .await;
    api.create_endpoint(&prefix.url("/p"), &["user.*"]).await;
    let other_ep = api
        .create_endpoint(&other.url("/o"), &["organization.*", "user.deleted"])
        .await;
    let (_, disabled_ep) = api
        .post(
            "/api/v1/webhooks",
            json!({ "url": disabled.url("/d"), "event_types": ["*"], "enabled": false }),
        )
        .await;
    let acme = app.org_id("Acme").await;
    let before = chrono::Utc::now().timestamp();
    api.add_user(&acme, "fanout@example.test").await;

    let both = prefix.wait_for(2).await;
    let types: Vec<&str> = both
        .iter()
        .map(|r| r.json["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["user.created", "user.organization_membership_created"],
        "in event order"
    );
    let only = exact.wait_for(1).await;
    assert_eq!(only[0].json["type"], "user.created");
    // The fan-out handled both events in one pass, so the others' lists are final already.
    assert!(api.deliveries(&id_of(&other_ep)).await.is_empty());
    assert!(api.deliveries(&id_of(&disabled_ep)).await.is_empty());
    assert_eq!(api.deliveries(&id_of(&exact_ep)).await.len(), 1);

    let r = &both[0];
    let body = r.json.as_object().unwrap();
    let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "data",
            "environment_id",
            "id",
            "occurred_at",
            "organization_id",
            "type"
        ]
    );
    assert_eq!(r.webhook_id, body["id"].as_str().unwrap());
    assert!(r.webhook_id.starts_with("evt_"));
    assert_eq!(body["organization_id"], acme.as_str());
    assert_eq!(body["data"]["user"]["email"], "fanout@example.test");
    assert!(chrono::DateTime::parse_from_rfc3339(body["occurred_at"].as_str().unwrap()).is_ok());
    assert!((before - 1..=chrono::Utc::now().timestamp() + 1).contains(&r.timestamp));
    assert!(r.signature.starts_with("v1,"));
    assert!(other.received().is_empty() && disabled.received().is_empty());
}

async fn failed_attempts_are_recorded_and_retried_with_the_same_webhook_id(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::status(500).body("x".repeat(5000))]);
    let endpoint = api
        .create_endpoint(&receiver.url("/hook"), &["user.created"])
        .await;
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "retry@example.test").await;
    let got = receiver.wait_for(2).await;
    assert_eq!(
        got[0].webhook_id, got[1].webhook_id,
        "stable across retries"
    );
    assert_eq!(got[0].body, got[1].body, "the same envelope");
    assert!(got[1].timestamp >= got[0].timestamp);
    let rows = api
        .wait_deliveries(&id_of(&endpoint), "the retry's success", |rows| {
            rows.first().is_some_and(|d| d["status"] == "succeeded")
        })
        .await;
    assert_eq!(rows.len(), 1);
    let d = &rows[0];
    assert_eq!(d["event_id"].as_str().unwrap(), got[0].webhook_id);
    assert_eq!(d["last_status"], 204);
    assert!(d["delivered_at"].is_string());
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status_code"], 500);
    assert_eq!(
        attempts[0]["response_snippet"].as_str().unwrap().len(),
        1024,
        "at most a KiB of the response is kept"
    );
    assert!(attempts[0]["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(attempts[1]["status_code"], 204);
    assert!(attempts[1]["error"].is_null());
}

async fn a_slow_receiver_times_out_and_is_retried(backend: Backend) {
    // At this scale the request timeout is its floor, 2 s (15 s normally).
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    receiver.script([Reply::status(204).delay(Duration::from_secs(6))]);
    let endpoint = api
        .create_endpoint(&receiver.url("/hook"), &["user.created"])
        .await;
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "slow@example.test").await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].webhook_id, got[1].webhook_id);
    let rows = api
        .wait_deliveries(&id_of(&endpoint), "the retry's success", |rows| {
            rows.first().is_some_and(|d| d["status"] == "succeeded")
        })
        .await;
    let attempts = rows[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(attempts[0]["status_code"].is_null(), "{}", attempts[0]);
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("timed out"),
        "{}",
        attempts[0]
    );
    let latency = attempts[0]["latency_ms"].as_i64().unwrap();
    assert!(
        (1900..5000).contains(&latency),
        "cut at the timeout: {latency} ms"
    );
    assert_eq!(attempts[1]["status_code"], 204);
}

async fn attempts_in_flight_never_exceed_the_concurrency(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.webhooks.allow_hosts = "127.0.0.1".into();
        s.webhooks.retry_scale = FAST;
        s.webhooks.concurrency = 2;
    })
    .await
    else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    receiver.set_default(Reply::status(204).delay(Duration::from_millis(150)));
    for i in 0..5 {
        api.create_endpoint(&receiver.url(&format!("/hook/{i}")), &["user.*"])
            .await;
    }
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "bounded@example.test").await;
    receiver
        .wait_until(DEADLINE, "ten deliveries", |r| r.len() == 10)
        .await;
    assert_eq!(
        receiver.max_in_flight(),
        2,
        "five endpoints could go at once, the setting allows two"
    );
}

async fn retry_after_is_honoured_on_429_and_503(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    // One receiver per answer, each giving it to every request: an attempt lost to a slow
    // machine (a timeout) is retried within milliseconds and meets the same answer, so the wait
    // measured is always the one the throttling answer asked for.
    let in_five_minutes = (chrono::Utc::now() + chrono::Duration::seconds(300))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let throttling = Receiver::spawn().await;
    throttling.set_default(Reply::status(429).header("Retry-After", "120"));
    let unavailable = Receiver::spawn().await;
    unavailable.set_default(Reply::status(503).header("Retry-After", &in_five_minutes));
    let mut endpoints = Vec::new();
    for (receiver, status, waits) in [
        (&throttling, 429, 119..=121),
        (&unavailable, 503, 290..=301),
    ] {
        let endpoint = api
            .create_endpoint(&receiver.url("/hook"), &["user.created"])
            .await;
        endpoints.push((id_of(&endpoint), receiver, status, waits));
    }
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "throttled@example.test").await;
    for (id, _, status, waits) in &endpoints {
        let rows = api
            .wait_deliveries(id, &format!("an attempt answered {status}"), |rows| {
                rows.len() == 1
                    && rows[0]["attempts"]
                        .as_array()
                        .and_then(|a| a.last())
                        .is_some_and(|a| a["status_code"] == *status)
                    && rows[0]["last_status"] == *status
            })
            .await;
        let d = &rows[0];
        let last = d["attempts"].as_array().unwrap().last().unwrap();
        let attempted =
            chrono::DateTime::parse_from_rfc3339(last["attempted_at"].as_str().unwrap()).unwrap();
        let next =
            chrono::DateTime::parse_from_rfc3339(d["next_attempt_at"].as_str().unwrap()).unwrap();
        let waited = (next - attempted).num_seconds();
        assert!(
            waits.contains(&waited),
            "{status} with Retry-After waits {waits:?} s, not {waited} s: {d}"
        );
        assert_eq!(d["status"], "pending", "{d}");
    }
    // Nothing else happens until then; a replay sends the deliveries now.
    for (id, receiver, _, _) in &endpoints {
        let seen = receiver.received().len();
        receiver.set_default(Reply::status(204));
        let rows = api.deliveries(id).await;
        let (status, _) = api
            .post(
                &format!("/api/v1/webhooks/{id}/replay"),
                json!({ "delivery_id": rows[0]["id"] }),
            )
            .await;
        assert_eq!(status, 202);
        receiver.wait_for(seen + 1).await;
        api.wait_deliveries(id, "delivered after the replay", |rows| {
            rows.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
    }
}

async fn gone_disables_the_endpoint_publishes_an_event_and_re_enabling_resumes(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let gone = Receiver::spawn().await;
    gone.set_default(Reply::status(410));
    let watcher = Receiver::spawn().await;
    let witness = Receiver::spawn().await;
    let gone_ep = api
        .create_endpoint(&gone.url("/hook"), &["user.created"])
        .await;
    let gone_id = id_of(&gone_ep);
    api.create_endpoint(&watcher.url("/hook"), &["webhook.*"])
        .await;
    api.create_endpoint(&witness.url("/hook"), &["user.created"])
        .await;
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "gone-1@example.test").await;

    let notice = watcher.wait_for(1).await;
    let event = &notice[0].json;
    assert_eq!(event["type"], "webhook.endpoint_disabled");
    assert!(event["organization_id"].is_null());
    assert_eq!(event["data"]["endpoint"]["id"], gone_id.as_str());
    assert_eq!(event["data"]["endpoint"]["enabled"], false);
    assert!(event["data"]["reason"].as_str().unwrap().contains("410"));
    let (_, fetched) = api.get(&format!("/api/v1/webhooks/{gone_id}")).await;
    assert_eq!(fetched["enabled"], false);
    assert!(
        fetched["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410 Gone")
    );
    assert_eq!(gone.received().len(), 1, "no attempt after 410");

    // While disabled it gets no new deliveries (the witness shows the event was fanned out).
    api.add_user(&acme, "gone-2@example.test").await;
    witness.wait_for(2).await;
    let rows = api.deliveries(&gone_id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "pending", "the 410'd delivery waits");

    // Enabled again, the waiting delivery goes out, with the same webhook-id.
    gone.set_default(Reply::status(204));
    let (status, enabled) = api
        .patch(
            &format!("/api/v1/webhooks/{gone_id}"),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(enabled["disabled_reason"].is_null());
    let got = gone.wait_for(2).await;
    assert_eq!(got[0].webhook_id, got[1].webhook_id);
    api.wait_deliveries(&gone_id, "the resumed delivery", |rows| {
        rows.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
}

async fn an_endpoint_failing_for_five_days_is_disabled(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    receiver.set_default(Reply::status(500));
    let endpoint = api
        .create_endpoint(&receiver.url("/hook"), &["user.created"])
        .await;
    let id = id_of(&endpoint);
    // The endpoint has been failing for five days (set in the database: the test cannot wait).
    let five_days_ago = db::now_ms() - 5 * 24 * 3600 * 1000 - 60_000;
    webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::FailingSince,
            sea_orm::sea_query::Expr::value(five_days_ago),
        )
        .filter(webhook_endpoint::Column::Id.eq(id.as_str()))
        .exec(app.conn())
        .await
        .unwrap();
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "five-days@example.test").await;
    let fetched = eventually("the endpoint to be disabled", DEADLINE, || async {
        let (_, e) = api.get(&format!("/api/v1/webhooks/{id}")).await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert!(
        fetched["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("five days"),
        "{fetched}"
    );
    let published = event::Entity::find()
        .filter(event::Column::EventType.eq("webhook.endpoint_disabled"))
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(published.len(), 1);
    assert!(published[0].payload.contains(&id));
}

async fn one_organizations_deliveries_wait_for_a_pending_retry_and_others_do_not(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    // The first message fails three times: retries at ~5 ms, ~300 ms and ~1.8 s.
    receiver.fail_first_message(Reply::status(500), 3);
    let endpoint = api
        .create_endpoint(&receiver.url("/hook"), &["user.*"])
        .await;
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    api.add_user(&acme, "order-1@example.test").await;
    api.add_user(&acme, "order-2@example.test").await;
    api.add_user(&globex, "other-org@example.test").await;
    let got = receiver
        .wait_until(DEADLINE, "all six events delivered", |r| {
            r.iter()
                .map(|r| r.webhook_id.as_str())
                .collect::<HashSet<_>>()
                .len()
                == 6
                && r.len() == 9
        })
        .await;
    let seq_of: HashMap<String, i64> = event::Entity::find()
        .all(app.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.seq))
        .collect();
    let acme_requests: Vec<(usize, i64)> = got
        .iter()
        .enumerate()
        .filter(|(_, r)| r.json["organization_id"] == acme.as_str())
        .map(|(i, r)| (i, seq_of[&r.webhook_id]))
        .collect();
    assert_eq!(acme_requests.len(), 7, "4 events, the first tried 4 times");
    let seqs: Vec<i64> = acme_requests.iter().map(|(_, s)| *s).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "Acme's events arrive in order, the first retried before the rest: {seqs:?}"
    );
    assert_eq!(
        seqs[..4],
        [seqs[0]; 4],
        "the first event's four attempts come first"
    );
    let first_success = acme_requests[3].0;
    let globex_first = got
        .iter()
        .position(|r| r.json["organization_id"] == globex.as_str())
        .unwrap();
    assert!(
        globex_first < first_success,
        "Globex's events do not wait for Acme's retry"
    );
    let rows = api.deliveries(&id_of(&endpoint)).await;
    assert_eq!(rows.len(), 6);
}

async fn replay_resends_one_delivery_or_every_failure_since_a_time(backend: Backend) {
    let Some(app) = spawn(backend, FASTER).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    receiver.set_default(Reply::status(500));
    let endpoint = api
        .create_endpoint(&receiver.url("/hook"), &["user.created"])
        .await;
    let id = id_of(&endpoint);
    let since = chrono::Utc::now().to_rfc3339();
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "replay-1@example.test").await;
    api.add_user(&acme, "replay-2@example.test").await;
    let failed = api
        .wait_deliveries(&id, "both deliveries to give up", |rows| {
            rows.len() == 2 && rows.iter().all(|d| d["status"] == "failed")
        })
        .await;
    for d in &failed {
        assert_eq!(
            d["attempts"].as_array().unwrap().len(),
            8,
            "the whole schedule"
        );
        assert!(d["next_attempt_at"].is_null());
    }
    assert_eq!(receiver.received().len(), 16);

    receiver.set_default(Reply::status(204));
    let (status, answer) = api
        .post(
            &format!("/api/v1/webhooks/{id}/replay"),
            json!({ "since": "2999-01-01T00:00:00Z", "status": "failed" }),
        )
        .await;
    assert_eq!(
        (status, answer["replayed"].as_u64()),
        (StatusCode::ACCEPTED, Some(0))
    );
    let (status, answer) = api
        .post(
            &format!("/api/v1/webhooks/{id}/replay"),
            json!({ "since": since, "status": "failed" }),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["replayed"], 2);
    let got = receiver.wait_for(18).await;
    let failed_ids: HashSet<String> = failed
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_string())
        .collect();
    let replayed_ids: HashSet<String> = got[16..].iter().map(|r| r.webhook_id.clone()).collect();
    assert_eq!(
        replayed_ids, failed_ids,
        "replays carry the same webhook-id"
    );
    let rows = api
        .wait_deliveries(&id, "both replays delivered", |rows| {
            rows.iter().all(|d| d["status"] == "succeeded")
        })
        .await;

    let one = &rows[0];
    let (status, answer) = api
        .post(
            &format!("/api/v1/webhooks/{id}/replay"),
            json!({ "delivery_id": one["id"] }),
        )
        .await;
    assert_eq!(
        (status, answer["replayed"].as_u64()),
        (StatusCode::ACCEPTED, Some(1))
    );
    let got = receiver.wait_for(19).await;
    assert_eq!(got[18].webhook_id, one["event_id"].as_str().unwrap());
    api.wait_deliveries(&id, "the single replay recorded", |rows| {
        rows.iter().find(|d| d["id"] == one["id"]).is_some_and(|d| {
            d["status"] == "succeeded" && d["attempts"].as_array().unwrap().len() == 10
        })
    })
    .await;
}

async fn delivery_log_link_opens_the_page_and_streams_new_attempts(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    let endpoint = api
        .create_endpoint(&receiver.url("/hook"), &["user.created"])
        .await;
    let id = id_of(&endpoint);
    let other = api.create_endpoint(&receiver.url("/other"), &["x.y"]).await;
    let acme = app.org_id("Acme").await;
    api.add_user(&acme, "log-1@example.test").await;
    receiver.wait_for(1).await;
    api.wait_deliveries(&id, "a success", |rows| {
        rows.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;

    let (status, link) = api
        .post(&format!("/api/v1/webhooks/{id}/log-link"), json!({}))
        .await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&app.url(&format!("/webhooks/{id}/log?token="))));
    let page = app.http().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains(&receiver.url("/hook")));
    assert_eq!(html.matches("id=\"delivery-whd_").count(), 1);
    assert!(html.contains("succeeded"));

    // The link opens this endpoint's log only, and only as issued.
    let token = url.split("token=").nth(1).unwrap();
    let foreign = app
        .http()
        .get(app.url(&format!("/webhooks/{}/log?token={token}", id_of(&other))))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let tampered = format!("{}A", &url[..url.len() - 1]);
    let tampered = if tampered == url {
        format!("{url}B")
    } else {
        tampered
    };
    assert_eq!(
        app.http().get(&tampered).send().await.unwrap().status(),
        403
    );
    let missing = app
        .http()
        .get(app.url(&format!("/webhooks/{id}/log")))
        .send()
        .await
        .unwrap();
    assert!(missing.status().is_client_error());

    let stream_path = html
        .split("data-log-stream=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let res = app.http().get(app.url(&stream_path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = res;
    api.add_user(&acme, "log-2@example.test").await;
    let new_delivery = api
        .wait_deliveries(&id, "the second delivery", |rows| rows.len() == 2)
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let frame = loop {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("a frame before the deadline")
            .expect("readable")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        let found = seen
            .split("\n\n")
            .filter_map(|f| f.strip_prefix("data: "))
            .filter_map(|f| serde_json::from_str::<Value>(f).ok())
            .find(|f| {
                f["target"] == format!("delivery-{new_delivery}")
                    && f["html"].as_str().unwrap().contains("succeeded")
            });
        if let Some(found) = found {
            break found;
        }
    };
    assert_eq!(frame["op"], "upsert");
    assert_eq!(frame["list"], "deliveries");
    let js = app
        .http()
        .get(app.url("/static/webhook-log.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Several nodes, leases and the cursor

async fn several_dispatchers_never_attempt_the_same_delivery_twice(backend: Backend) {
    let Some(app) = spawn(backend, FAST).await else {
        return;
    };
    let api = Api::new(&app).await;
    let receiver = Receiver::spawn().await;
    let mut endpoint_ids = Vec::new();
    for i in 0..6 {
        let e = api
            .create_endpoint(&receiver.url(&format!("/hook/{i}")), &["user.*"])
            .await;
        endpoint_ids.push(id_of(&e));
    }
    // Two more "nodes" beside the server's own dispatcher, on the same database.
    let state = &app.app_state;
    let nodes: Vec<WebhookDispatcher> = (0..2)
        .map(|_| WebhookDispatcher::new(state.db.clone(), state.webhooks.clone(), 8, None).unwrap())
        .collect();
    assert_ne!(nodes[0].node_id(), nodes[1].node_id());
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    for i in 0..10 {
        let org = if i % 2 == 0 { &acme } else { &globex };
        api.add_user(org, &format!("nodes-{i}@example.test")).await;
    }
    let total = 6 * 20;
    futures_util::future::join(
        drive(&nodes[0], &receiver, total),
        drive(&nodes[1], &receiver, total),
    )
    .await;
    let got = receiver.wait_for(total).await;
    let pairs: HashSet<(String, String)> = got
        .iter()
        .map(|r| (r.path.clone(), r.webhook_id.clone()))
        .collect();
    assert_eq!(pairs.len(), total, "every delivery arrived");
    assert_eq!(got.len(), total, "and none twice");
    let attempts = eventually("every attempt recorded", DEADLINE, || async {
        let n = webhook_attempt::Entity::find()
            .count(app.conn())
            .await
            .unwrap();
        (n as usize >= total).then_some(n)
    })
    .await;
    assert_eq!(attempts as usize, total, "one attempt per delivery");
}

/// Runs a dispatcher pass after pass until the receiver has `total` requests (or time is up).
async fn drive(node: &WebhookDispatcher, receiver: &Receiver, total: usize) {
    let until = tokio::time::Instant::now() + DEADLINE * 3;
    while receiver.received().len() < total && tokio::time::Instant::now() < until {
        if node.try_run_once().await.unwrap().attempted == 0 {
            receiver.next_arrival(Duration::from_millis(50)).await;
        }
    }
}

/// A bare database with the schema and a webhook context, for driving workers directly.
async fn bare(backend: Backend) -> Option<(TestDatabase, Db, WebhookContext)> {
    let database = TestDatabase::create(backend).await?;
    let db = Db::connect(&database.url).await.unwrap();
    db.migrate_up().await.unwrap();
    db::environment::ensure_default(db.conn()).await.unwrap();
    let ctx = WebhookContext::new(
        DataKey::from_bytes(&[9u8; 32]).unwrap(),
        Arc::new(AllowList::parse("127.0.0.1").unwrap()),
        Timing::scaled(FAST),
        Duration::from_secs(3600),
    );
    Some((database, db, ctx))
}

async fn bare_endpoint(db: &Db, ctx: &WebhookContext, url: &str) -> String {
    manage::create(
        db,
        ctx,
        EndpointInput {
            url: WebhookUrl::parse(url, &ctx.allow).unwrap(),
            description: String::new(),
            event_types: EventTypeFilter::parse(&["*"]).unwrap(),
            enabled: true,
        },
        None,
    )
    .await
    .unwrap()
    .endpoint
    .id
}

async fn append_events(db: &Db, n: usize, org: &str) {
    let tx = db.begin_write().await.unwrap();
    let batch = (0..n)
        .map(|i| NewEvent {
            event_type: "test.ping",
            organization_id: Some(org.to_string()),
            user_id: None,
            data: json!({ "n": i }),
        })
        .collect();
    portal::db::events::append(&tx, batch).await.unwrap();
    tx.commit().await.unwrap();
}

async fn an_attempt_lost_with_its_node_is_retried_by_another_after_the_lease(backend: Backend) {
    let Some((_database, db, ctx)) = bare(backend).await else {
        return;
    };
    let receiver = Receiver::spawn().await;
    // The first request hangs: the node making it dies before any answer.
    receiver.script([Reply::status(204).delay(Duration::from_secs(30))]);
    WebhookFanout::ensure_cursor(&db).await.unwrap();
    bare_endpoint(&db, &ctx, &receiver.url("/hook")).await;
    append_events(&db, 1, "org_lease").await;
    let fanout = WebhookFanout::new(db.clone(), None);
    assert!(matches!(
        fanout.try_run_once().await.unwrap(),
        Outcome::FannedOut { deliveries: 1, .. }
    ));

    let doomed = WebhookDispatcher::new(db.clone(), ctx.clone(), 4, None).unwrap();
    let doomed_id = doomed.node_id().to_string();
    let crashed = actix_web::rt::spawn(async move { doomed.try_run_once().await });
    receiver.wait_for(1).await;
    crashed.abort();
    let _ = crashed.await;

    let survivor = WebhookDispatcher::new(db.clone(), ctx.clone(), 4, None).unwrap();
    let leased = webhook_delivery::Entity::find()
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.leased_by.as_deref(), Some(doomed_id.as_str()));
    assert!(
        leased.lease_until.unwrap() > db::now_ms(),
        "the lease is live"
    );
    assert_eq!(
        survivor.try_run_once().await.unwrap().attempted,
        0,
        "a live lease keeps other nodes off"
    );

    // The lease runs out (moved into the past: the test does not wait it out).
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            sea_orm::sea_query::Expr::value(db::now_ms() - 1),
        )
        .exec(db.conn())
        .await
        .unwrap();
    let outcome = survivor.try_run_once().await.unwrap();
    assert_eq!((outcome.attempted, outcome.succeeded), (1, 1));
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].webhook_id, got[1].webhook_id);
    let done = webhook_delivery::Entity::find()
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, "succeeded");
    assert!(done.leased_by.is_none());
    let attempts = webhook_attempt::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "the lost attempt left no record; the retry did"
    );
    db.close().await;
}

async fn only_one_fanout_advances_the_cursor_and_a_new_one_resumes_from_it(backend: Backend) {
    let Some((_database, db, ctx)) = bare(backend).await else {
        return;
    };
    WebhookFanout::ensure_cursor(&db).await.unwrap();
    append_events(&db, 3, "org_before").await;
    bare_endpoint(&db, &ctx, "https://hooks.example.com/a").await;
    for _ in 0..3 {
        append_events(&db, 400, "org_fanout").await;
    }
    let nodes = [
        WebhookFanout::new(db.clone(), None),
        WebhookFanout::new(db.clone(), None),
    ];
    let (a, b) = futures_util::future::join(fan_out_all(&nodes[0]), fan_out_all(&nodes[1])).await;
    assert_eq!(
        a + b,
        1203,
        "each event fanned out by exactly one node ({a} + {b})"
    );
    let count = || async {
        webhook_delivery::Entity::find()
            .count(db.conn())
            .await
            .unwrap()
    };
    assert_eq!(
        count().await,
        1200,
        "events before the endpoint existed are not sent"
    );
    let last = portal::db::events::last_seq(db.conn()).await.unwrap();
    assert_eq!(
        portal::db::webhooks::cursor(db.conn()).await.unwrap(),
        Some(last)
    );

    // A fresh fan-out (a restarted node) continues from the stored cursor.
    append_events(&db, 7, "org_after").await;
    let restarted = WebhookFanout::new(db.clone(), None);
    assert_eq!(
        restarted.try_run_once().await.unwrap(),
        Outcome::FannedOut {
            events: 7,
            deliveries: 7,
            more: false
        }
    );
    assert_eq!(count().await, 1207);

    if backend == Backend::Postgres {
        // While another node holds the cursor, this one skips instead of waiting or duplicating.
        append_events(&db, 2, "org_locked").await;
        let holder = db.conn().begin().await.unwrap();
        holder
            .execute_unprepared(
                "SELECT last_seq FROM webhook_cursors WHERE environment_id = 'env_default' FOR UPDATE",
            )
            .await
            .unwrap();
        assert_eq!(restarted.try_run_once().await.unwrap(), Outcome::Busy);
        holder.rollback().await.unwrap();
        assert!(matches!(
            restarted.try_run_once().await.unwrap(),
            Outcome::FannedOut { events: 2, .. }
        ));
    }
    db.close().await;
}

/// Runs passes until the outbox is exhausted; returns how many events this node fanned out.
async fn fan_out_all(node: &WebhookFanout) -> usize {
    let mut events = 0;
    loop {
        match node.try_run_once().await.unwrap() {
            Outcome::FannedOut { events: n, .. } => events += n,
            Outcome::Busy => tokio::task::yield_now().await,
            Outcome::Idle => return events,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The crash test

/// The real `portal` binary, serving on a free port.
struct PortalProcess {
    child: std::process::Child,
    base: String,
}

impl PortalProcess {
    async fn start(database: &TestDatabase) -> Self {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let quiet = std::env::var("TEST_LOG").is_err();
        let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(database.data_dir())
            .env("PORTAL_DATABASE_URL", &database.url)
            .env("PORTAL_DEMO_PASSWORD", PASSWORD)
            .env("PORTAL_DEMO_CLIENT_SECRET", CLIENT_SECRET)
            .env("PORTAL_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
            .env("PORTAL_WEBHOOK_RETRY_SCALE", "0.00002")
            .env("PORTAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("start portal");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Keep reading so the process never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("Portal is running at ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().trim_end_matches('/').to_string());
                }
            }
        });
        let base = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("portal starts within a minute")
            .expect("portal prints its address");
        Self { child, base }
    }

    /// SIGKILL: no shutdown, no flushing, leases left as they were.
    fn kill_9(&mut self) {
        self.child.kill().expect("kill -9 portal");
        let _ = self.child.wait();
    }
}

impl Drop for PortalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn management_token(http: &reqwest::Client, base: &str) -> String {
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("demo-app", Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    token["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

async fn portal_killed_mid_delivery_loses_no_event(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let Some(mut receiver) = PyReceiver::spawn(0.3, 3).await else {
        return;
    };
    const USERS: usize = 500; // two events each: 1,000 events

    let mut portal = PortalProcess::start(&database).await;
    let http = reqwest::Client::new();
    let token = management_token(&http, &portal.base).await;
    let created: Value = http
        .post(format!("{}/api/v1/webhooks", portal.base))
        .bearer_auth(&token)
        .json(&json!({ "url": receiver.url, "event_types": ["user.*"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"]
        .as_str()
        .expect("endpoint created")
        .to_string();
    receiver.set_secrets(&[("current", &secret)]).await;
    let orgs: Value = http
        .get(format!("{}/api/v1/organizations", portal.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_ids: Vec<String> = orgs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();

    // Events are generated while deliveries flow; a call that fails because Portal is down is
    // repeated against the restarted process (adding a member twice adds no events). The restarted
    // process listens on another port, which is another issuer: it needs a token of its own.
    let (base_tx, base_rx) = tokio::sync::watch::channel(portal.base.clone());
    let generator = {
        let (http, org_ids) = (http.clone(), org_ids.clone());
        let mut base_rx = base_rx.clone();
        let mut current = (portal.base.clone(), token.clone());
        actix_web::rt::spawn(async move {
            for i in 0..USERS {
                let org = &org_ids[i % org_ids.len()];
                loop {
                    let base = base_rx.borrow_and_update().clone();
                    if base != current.0 {
                        current = (base.clone(), management_token(&http, &base).await);
                    }
                    let res = http
                        .post(format!("{base}/api/v1/organizations/{org}/users"))
                        .bearer_auth(&current.1)
                        .json(&json!({ "email": format!("crash-{i}@example.test") }))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) if r.status().is_server_error() => continue,
                        Ok(r) => panic!("adding a user failed: {}", r.status()),
                        Err(_) => {
                            let _ =
                                tokio::time::timeout(Duration::from_secs(60), base_rx.changed())
                                    .await;
                        }
                    }
                }
            }
        })
    };

    let delivered = |lines: &[Value]| -> HashSet<String> {
        lines
            .iter()
            .filter(|l| l["status"] == 204)
            .map(|l| l["webhook_id"].as_str().unwrap().to_string())
            .collect()
    };
    receiver
        .wait_deliveries(Duration::from_secs(60), "a third of the events", |l| {
            delivered(l).len() >= 300
        })
        .await;
    portal.kill_9();
    let before_crash = delivered(&receiver.deliveries()).len();

    let portal = PortalProcess::start(&database).await;
    base_tx.send(portal.base.clone()).unwrap();
    tokio::time::timeout(Duration::from_secs(120), generator)
        .await
        .expect("all users added")
        .unwrap();

    let conn = sea_orm::Database::connect(&database.url).await.unwrap();
    let from_seq = webhook_endpoint::Entity::find()
        .one(&conn)
        .await
        .unwrap()
        .unwrap()
        .from_seq;
    let expected: HashSet<String> = event::Entity::find()
        .filter(event::Column::Seq.gt(from_seq))
        .filter(event::Column::EventType.starts_with("user."))
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(expected.len(), 2 * USERS, "1,000 events were generated");
    assert!(
        before_crash < expected.len(),
        "the kill came mid-delivery ({before_crash} delivered before it)"
    );

    let lines = receiver
        .wait_deliveries(
            Duration::from_secs(180),
            "every event after the restart",
            |l| delivered(l).is_superset(&expected),
        )
        .await;
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["webhook_id"].as_str().unwrap())
        .collect();
    for l in &lines {
        assert_eq!(
            l["verified"]["current"], true,
            "verified by standardwebhooks: {l}"
        );
        assert_eq!(
            l["webhook_id"], l["body_id"],
            "one webhook-id per event: {l}"
        );
        assert!(
            expected.contains(l["webhook_id"].as_str().unwrap()),
            "no strangers: {l}"
        );
    }
    let failures = lines.iter().filter(|l| l["status"] == 500).count();
    let successes: Vec<&Value> = lines.iter().filter(|l| l["status"] == 204).collect();
    let duplicates = successes.len() - delivered(&lines).len();
    eprintln!(
        "crash test ({backend:?}): {} requests, {failures} answered 500, {} events delivered, \
         {duplicates} duplicate successes (same webhook-id), {before_crash} before the kill",
        ids.len(),
        delivered(&lines).len()
    );
    assert!(failures > 100, "the receiver failed about 30 % of requests");
    conn.close().await.unwrap();
    drop(portal);
}
