//! Domain verification against a real DNS server on loopback (`dns::DnsServer`): the widget, the
//! API, the verifier's schedule (driven by passing times to `try_run_once`, never by sleeping),
//! the one-organization rule, home-realm discovery and joining by domain at sign-up.

use crate::dns::DnsServer;
use crate::helpers::{
    Backend, Browser, DEADLINE, PASSWORD, TestApp, TestDatabase, form_value, location,
};
use crate::on_both_backends;
use crate::smtp::SmtpSink;
use portal::actors::domain_verifier::Outcome;
use portal::config::DnsSettings;
use portal::db;
use portal::db::domains::Domain;
use portal::domain::Feature;
use portal::domains::dns::{TxtAnswer, TxtResolver};
use portal::domains::schedule::{DAY, HOUR, MINUTE};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    a_domain_added_through_the_api_is_verified_on_its_first_check,
    a_record_published_after_two_failed_checks_is_verified_by_the_backoff,
    a_wrong_value_is_reported_in_words_and_does_not_verify,
    nxdomain_no_txt_servfail_and_timeouts_are_told_apart_within_the_concurrency_bound,
    a_value_split_across_strings_verifies_whatever_the_case_and_trailing_dot,
    a_removed_record_unverifies_the_domain_after_three_days,
    a_domain_fails_when_its_window_ends_and_its_token_later_expires,
    a_restarted_node_resumes_the_schedule_from_the_database,
    a_domain_verified_by_one_organization_is_refused_to_another,
    racing_verifications_of_one_domain_by_two_organizations_let_one_win,
    public_mail_domains_and_non_domains_are_refused,
    international_names_are_verified_by_their_ascii_form,
    the_api_keeps_each_organization_to_its_own_domains,
    the_integrator_can_mark_a_domain_verified_without_dns,
    the_domains_widget_needs_the_feature_and_its_permissions_on_every_request,
    the_domains_widget_adds_checks_and_deletes_with_csrf_forms,
    the_domains_widget_turns_green_live_when_the_domain_is_verified,
    an_address_on_a_verified_domain_of_an_sso_organization_signs_into_it,
    signing_up_on_a_verified_domain_with_auto_joining_makes_a_member,
    signing_up_on_a_verified_domain_with_suggested_joining_asks_first,
    the_join_policy_is_set_through_the_api_and_checked,
);

/// A server whose domain checks ask `dns` (one attempt, no cache).
async fn spawn_on(backend: Backend, dns: &DnsServer, concurrency: usize) -> Option<TestApp> {
    let settings = dns_settings(dns, concurrency);
    TestApp::spawn_with(backend, move |s| s.dns = settings).await
}

fn dns_settings(dns: &DnsServer, concurrency: usize) -> DnsSettings {
    DnsSettings {
        servers: dns.address(),
        // Generous for a loaded machine; only the silent-server cases wait it out.
        timeout_ms: 1500,
        attempts: 1,
        cache: false,
        concurrency,
    }
}

/// A test server with a DNS server beside it.
struct Env {
    app: TestApp,
    dns: DnsServer,
    token: String,
}

impl Env {
    async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, 4).await
    }

    async fn start_with(backend: Backend, concurrency: usize) -> Option<Self> {
        let dns = DnsServer::start().await?;
        let app = spawn_on(backend, &dns, concurrency).await?;
        let token = app.api_token().await;
        Some(Self { app, dns, token })
    }

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .http()
            .request(method, self.app.url(path))
            .bearer_auth(&self.token)
    }

    async fn create(&self, org: &str, body: Value) -> (u16, Value) {
        let res = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{org}/domains"),
            )
            .json(&body)
            .send()
            .await
            .expect("create domain");
        let status = res.status().as_u16();
        (status, res.json().await.expect("json"))
    }

    /// Adds `name` to `org` and returns the created domain.
    async fn add(&self, org: &str, name: &str) -> Value {
        let (status, body) = self.create(org, json!({ "domain": name })).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn get(&self, org: &str, id: &str) -> (u16, Value) {
        let res = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/organizations/{org}/domains/{id}"),
            )
            .send()
            .await
            .expect("get domain");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn verify(&self, org: &str, id: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.api(
            reqwest::Method::POST,
            &format!("/api/v1/organizations/{org}/domains/{id}/verify"),
        );
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("verify domain");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Publishes the TXT record a created domain asks for.
    fn publish(&self, domain: &Value) {
        self.dns.set_txt_value(
            domain["txt_record"]["name"].as_str().expect("record name"),
            domain["txt_record"]["value"]
                .as_str()
                .expect("record value"),
        );
    }

    async fn row(&self, id: &str) -> Domain {
        db::domains::find(self.app.conn(), id)
            .await
            .expect("query")
            .expect("the domain exists")
    }

    /// When the domain's next check is due.
    async fn due_at(&self, id: &str) -> i64 {
        self.row(id)
            .await
            .next_check_at
            .expect("a check is scheduled")
    }

    /// One verifier pass as of `now`.
    async fn run_at(&self, now: i64) -> Outcome {
        self.app
            .app_state
            .domains
            .try_run_once(now)
            .await
            .expect("verifier pass")
    }

    /// One verifier pass at the moment the domain's next check is due.
    async fn run_when_due(&self, id: &str) -> Outcome {
        let at = self.due_at(id).await;
        self.run_at(at).await
    }

    async fn event_types(&self, domain_id: &str) -> Vec<String> {
        db::events::after(self.app.conn(), 0, 1000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.data["domain"]["id"] == domain_id)
            .map(|e| e.event_type)
            .collect()
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Waits for `probe` to give a value, checking again every few milliseconds until `deadline`.
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

fn resolver_for(dns: &DnsServer) -> TxtResolver {
    TxtResolver::from_settings(&dns_settings(dns, 1)).expect("resolver")
}

#[actix_web::test]
async fn the_resolver_reads_what_a_real_dns_server_answers() {
    let Some(dns) = DnsServer::start().await else {
        return;
    };
    let resolver = resolver_for(&dns);
    dns.set_txt(
        "_portal-challenge.acme.test",
        &[&["v=spf1 -all"], &["portal-verification=", "abc"]],
    );
    dns.set_no_txt("_portal-challenge.empty.test");
    dns.set_rcode("_portal-challenge.broken.test", "SERVFAIL");
    dns.set_rcode("_portal-challenge.refused.test", "REFUSED");
    dns.set_silent("_portal-challenge.slow.test");
    let cases = [
        (
            "_portal-challenge.Acme.TEST.",
            TxtAnswer::Records(vec!["portal-verification=abc".into(), "v=spf1 -all".into()]),
        ),
        ("_portal-challenge.empty.test", TxtAnswer::NoRecords),
        ("_portal-challenge.nowhere.test", TxtAnswer::NxDomain),
        ("_portal-challenge.broken.test", TxtAnswer::ServFail),
        ("_portal-challenge.slow.test", TxtAnswer::Timeout),
    ];
    for (name, expected) in cases {
        let mut got = resolver.lookup(name).await;
        if let TxtAnswer::Records(texts) = &mut got {
            texts.sort();
        }
        assert_eq!(got, expected, "{name}");
    }
    let refused = resolver.lookup("_portal-challenge.refused.test").await;
    assert!(
        matches!(&refused, TxtAnswer::Failed(why) if why.contains("Refused")),
        "{refused:?}"
    );
}

async fn a_domain_added_through_the_api_is_verified_on_its_first_check(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, "acme.test").await;
    assert_eq!(created["domain"], "acme.test");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["organization_id"], acme.as_str());
    assert_eq!(created["txt_record"]["name"], "_portal-challenge.acme.test");
    let value = created["txt_record"]["value"].as_str().expect("value");
    let token = value
        .strip_prefix("portal-verification=")
        .expect("value format");
    assert!(
        token.len() >= 22
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "a base64url token of at least 128 bits: {token}"
    );
    assert!(created["last_check"].is_null(), "not checked yet");
    let id = id_of(&created);

    // Adding it again is idempotent.
    let (status, again) = env.create(&acme, json!({ "domain": "ACME.test." })).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], id.as_str());

    // The first check is a minute after adding: time to publish the record.
    let row = env.row(&id).await;
    assert_eq!(row.next_check_at, Some(row.created_at + MINUTE));
    env.publish(&created);
    let outcome = env.run_when_due(&id).await;
    assert_eq!(
        outcome,
        Outcome {
            checked: 1,
            changed: 1
        }
    );
    let (status, domain) = env.get(&acme, &id).await;
    assert_eq!(status, 200);
    assert_eq!(domain["status"], "verified");
    assert_eq!(domain["verification_method"], "dns");
    assert_eq!(domain["last_check"]["outcome"], "verified");
    assert_eq!(
        domain["last_check"]["message"],
        "record found and it matches"
    );
    assert!(domain["verified_at"].is_string());
    // Verified domains are re-checked daily.
    let row = env.row(&id).await;
    assert_eq!(
        row.next_check_at,
        Some(row.last_checked_at.expect("checked") + DAY)
    );
    assert_eq!(
        env.event_types(&id).await,
        [
            "organization.domain_created",
            "organization.domain_dns_verification_success"
        ]
    );
    let list: Value = env
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/organizations/{acme}/domains"),
        )
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"].as_array().expect("data").len(), 1);
    assert_eq!(list["data"][0]["status"], "verified");
}

async fn a_record_published_after_two_failed_checks_is_verified_by_the_backoff(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, "late.test").await;
    let id = id_of(&created);

    let first = env.due_at(&id).await;
    assert_eq!(env.run_at(first).await.checked, 1);
    let row = env.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert_eq!(row.last_outcome.as_deref(), Some("nxdomain"));
    assert!(
        row.last_result
            .as_deref()
            .is_some_and(|r| r.starts_with("no TXT record found")),
        "{:?}",
        row.last_result
    );
    assert_eq!(row.next_check_at, Some(first + 5 * MINUTE));

    // Nothing is due before its time.
    assert_eq!(env.run_at(first + 4 * MINUTE).await, Outcome::default());
    let second = first + 5 * MINUTE;
    assert_eq!(env.run_at(second).await.checked, 1);
    let row = env.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 2));
    assert_eq!(row.next_check_at, Some(second + 15 * MINUTE));

    env.publish(&created);
    assert_eq!(
        env.run_at(second + 15 * MINUTE).await,
        Outcome {
            checked: 1,
            changed: 1
        }
    );
    let row = env.row(&id).await;
    assert_eq!(row.status, "verified");
    assert_eq!(row.verified_at, Some(second + 15 * MINUTE));
    assert_eq!(
        env.dns.queries_for("_portal-challenge.late.test"),
        3,
        "one lookup per check"
    );
}

async fn a_wrong_value_is_reported_in_words_and_does_not_verify(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, "wrong.test").await;
    let id = id_of(&created);
    env.dns.set_txt(
        "_portal-challenge.wrong.test",
        &[
            &["v=spf1 include:mail.wrong.test -all"],
            &["portal-verification=not-the-token"],
        ],
    );
    env.run_when_due(&id).await;
    let (_, domain) = env.get(&acme, &id).await;
    assert_eq!(domain["status"], "pending");
    assert_eq!(domain["last_check"]["outcome"], "mismatch");
    let message = domain["last_check"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("record found but value differs")
            && message.contains("portal-verification=not-the-token"),
        "{message}"
    );
    // The same value with another case is still wrong: tokens are case-sensitive.
    let value = created["txt_record"]["value"].as_str().expect("value");
    env.dns.set_txt_value(
        "_portal-challenge.wrong.test",
        &value.replace("portal-verification=", "").to_uppercase(),
    );
    env.run_when_due(&id).await;
    assert_eq!(env.row(&id).await.last_outcome.as_deref(), Some("mismatch"));
    assert_eq!(env.event_types(&id).await, ["organization.domain_created"]);
}

async fn nxdomain_no_txt_servfail_and_timeouts_are_told_apart_within_the_concurrency_bound(
    backend: Backend,
) {
    let Some(env) = Env::start_with(backend, 4).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let cases = [
        (
            "nx.test",
            "nxdomain",
            "no TXT record found: the name _portal-challenge.nx.test does not exist (NXDOMAIN)",
        ),
        ("empty.test", "no_record", "no TXT record found"),
        (
            "broken.test",
            "servfail",
            "the DNS server failed (SERVFAIL)",
        ),
        ("slow.test", "timeout", "DNS timed out"),
        (
            "refused.test",
            "error",
            "the DNS lookup failed: the DNS server answered",
        ),
    ];
    env.dns.set_no_txt("_portal-challenge.empty.test");
    env.dns
        .set_rcode("_portal-challenge.broken.test", "SERVFAIL");
    env.dns.set_silent("_portal-challenge.slow.test");
    env.dns
        .set_rcode("_portal-challenge.refused.test", "REFUSED");
    let mut ids = Vec::new();
    for (name, _, _) in cases {
        ids.push(id_of(&env.add(&acme, name).await));
    }
    // Five domains are due, but one pass checks at most four (the concurrency).
    let mut latest = 0;
    for id in &ids {
        latest = latest.max(env.due_at(id).await);
    }
    assert_eq!(env.run_at(latest).await.checked, 4);
    assert_eq!(env.run_at(latest).await.checked, 1);
    assert_eq!(env.run_at(latest).await.checked, 0);
    for ((name, outcome, words), id) in cases.iter().zip(&ids) {
        let row = env.row(id).await;
        assert_eq!(row.status, "pending", "{name} keeps waiting");
        assert_eq!(row.last_outcome.as_deref(), Some(*outcome), "{name}");
        let result = row.last_result.unwrap_or_default();
        assert!(result.starts_with(words), "{name}: {result}");
        assert_eq!(row.attempts, 1, "{name}");
    }
}

async fn a_value_split_across_strings_verifies_whatever_the_case_and_trailing_dot(
    backend: Backend,
) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, " Split.Example. ").await;
    assert_eq!(created["domain"], "split.example");
    let id = id_of(&created);
    let value = created["txt_record"]["value"].as_str().expect("value");
    let (head, tail) = value.split_at(25);
    // The zone spells the name in another case and holds the value in three character-strings.
    env.dns.set_txt(
        "_PORTAL-CHALLENGE.Split.EXAMPLE.",
        &[&["unrelated"], &[head, &tail[..3], &tail[3..]]],
    );
    env.run_when_due(&id).await;
    assert_eq!(env.row(&id).await.status, "verified");
}

async fn a_removed_record_unverifies_the_domain_after_three_days(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, "gone.test").await;
    let id = id_of(&created);
    env.publish(&created);
    env.run_when_due(&id).await;
    let verified_at = env.row(&id).await.verified_at.expect("verified");

    // The daily re-check finds the record gone: still verified, and re-checked hourly.
    env.dns.remove("_portal-challenge.gone.test");
    let gone = verified_at + DAY;
    assert_eq!(env.due_at(&id).await, gone);
    env.run_at(gone).await;
    let row = env.row(&id).await;
    assert_eq!(row.status, "verified");
    assert_eq!(row.missing_since, Some(gone));
    assert_eq!(row.next_check_at, Some(gone + HOUR));
    // A DNS server that fails to answer proves nothing either way.
    env.dns.set_rcode("_portal-challenge.gone.test", "SERVFAIL");
    env.run_at(gone + 2 * DAY).await;
    let row = env.row(&id).await;
    assert_eq!(
        (row.status.as_str(), row.missing_since),
        ("verified", Some(gone))
    );
    env.dns.remove("_portal-challenge.gone.test");
    env.run_at(gone + 3 * DAY - 2 * HOUR).await;
    assert_eq!(env.row(&id).await.status, "verified", "within the grace");
    assert_eq!(env.run_at(gone + 3 * DAY).await.changed, 1);
    let (_, domain) = env.get(&acme, &id).await;
    assert_eq!(domain["status"], "unverified");
    assert!(domain["verified_at"].is_null());
    assert_eq!(
        env.event_types(&id).await.last().map(String::as_str),
        Some("organization.domain_unverified")
    );

    // Publishing it again verifies it again on the next check.
    env.publish(&created);
    env.run_when_due(&id).await;
    assert_eq!(env.row(&id).await.status, "verified");
    assert_eq!(
        env.event_types(&id).await.last().map(String::as_str),
        Some("organization.domain_dns_verification_success")
    );
}

async fn a_domain_fails_when_its_window_ends_and_its_token_later_expires(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let late = env.add(&acme, "late-but-fine.test").await;
    let never = env.add(&acme, "never.test").await;
    let window_end = env.row(&id_of(&never)).await.expires_at;
    assert_eq!(
        window_end,
        env.row(&id_of(&never)).await.created_at + 7 * DAY
    );
    for domain in [&late, &never] {
        env.run_when_due(&id_of(domain)).await;
    }
    // The next check falls on the window's end at the latest; the first pass after it fails both.
    assert_eq!(
        env.run_at(window_end + MINUTE).await,
        Outcome {
            checked: 2,
            changed: 2
        }
    );
    for domain in [&late, &never] {
        let id = id_of(domain);
        assert_eq!(env.row(&id).await.status, "failed");
        assert_eq!(
            env.event_types(&id).await,
            [
                "organization.domain_created",
                "organization.domain_dns_verification_failed"
            ]
        );
    }
    // Nothing more is looked up on its own for a failed domain…
    let queries = env.dns.queries_for("_portal-challenge.never.test");
    assert_eq!(env.run_at(window_end + 2 * DAY).await, Outcome::default());
    assert_eq!(env.dns.queries_for("_portal-challenge.never.test"), queries);
    // …but "Check now" still verifies it once the record is there.
    env.publish(&late);
    let (status, checked) = env.verify(&acme, &id_of(&late), None).await;
    assert_eq!(status, 200);
    assert_eq!(checked["status"], "verified");

    // Thirty days after the window the token of a failed domain expires, and "Check now" is refused.
    let never_id = id_of(&never);
    assert_eq!(env.due_at(&never_id).await, window_end + 30 * DAY);
    env.run_at(window_end + 30 * DAY).await;
    assert_eq!(env.row(&never_id).await.status, "expired");
    assert!(env.row(&never_id).await.next_check_at.is_none());
    assert_eq!(
        env.event_types(&never_id).await.last().map(String::as_str),
        Some("organization.domain_verification_expired")
    );
    let (status, body) = env.verify(&acme, &never_id, None).await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("expired"),
        "{body}"
    );
    assert_eq!(env.dns.queries_for("_portal-challenge.never.test"), queries);
}

async fn a_restarted_node_resumes_the_schedule_from_the_database(backend: Backend) {
    let Some(dns) = DnsServer::start().await else {
        return;
    };
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let settings = dns_settings(&dns, 4);
    let first = TestApp::spawn_on_with(database, {
        let settings = settings.clone();
        move |s| s.dns = settings
    })
    .await;
    let env = Env {
        token: first.api_token().await,
        app: first,
        dns,
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, "restart.test").await;
    let id = id_of(&created);
    env.run_when_due(&id).await;
    let before = env.row(&id).await;
    assert_eq!((before.status.as_str(), before.attempts), ("pending", 1));

    // The node stops mid-schedule; meanwhile the record is published and the next check comes due.
    let Env { app, dns, .. } = env;
    let database = app.stop().await;
    env_publish(&dns, &created);
    let reopened = db::Db::connect(&database.url).await.expect("connect");
    db::domains::set_next_check(reopened.conn(), &id, Some(db::now_ms() - 1000))
        .await
        .expect("move the schedule");
    reopened.close().await;

    // A new node on the same database resumes on its own: nothing here drives it.
    let second = TestApp::spawn_on_with(database, move |s| s.dns = settings).await;
    let row = eventually(
        "the restarted node to verify the domain",
        DEADLINE,
        || async {
            let row = db::domains::find(second.conn(), &id)
                .await
                .expect("query")?;
            (row.status == "verified").then_some(row)
        },
    )
    .await;
    assert_eq!(row.verification_token, before.verification_token);
    assert_ne!(row.last_checked_at, before.last_checked_at, "checked again");
    assert_eq!(dns.queries_for("_portal-challenge.restart.test"), 2);
}

fn env_publish(dns: &DnsServer, domain: &Value) {
    dns.set_txt_value(
        domain["txt_record"]["name"].as_str().expect("name"),
        domain["txt_record"]["value"].as_str().expect("value"),
    );
}

async fn a_domain_verified_by_one_organization_is_refused_to_another(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let globex = env.app.org_id("Globex").await;
    let (status, acme_claim) = env
        .create(
            &acme,
            json!({ "domain": "shared.test", "include_subdomains": true }),
        )
        .await;
    assert_eq!(status, 201);
    // Both may claim it while nobody has verified it.
    let globex_claim = env.add(&globex, "shared.test").await;
    assert_ne!(
        acme_claim["txt_record"]["value"], globex_claim["txt_record"]["value"],
        "each claim has its own token"
    );
    env.publish(&acme_claim);
    env.run_when_due(&id_of(&acme_claim)).await;
    assert_eq!(env.row(&id_of(&acme_claim)).await.status, "verified");

    // Globex publishes its own token too; its check is refused, and the claim fails.
    env.dns.set_txt(
        "_portal-challenge.shared.test",
        &[
            &[acme_claim["txt_record"]["value"].as_str().expect("value")],
            &[globex_claim["txt_record"]["value"].as_str().expect("value")],
        ],
    );
    let globex_id = id_of(&globex_claim);
    env.run_when_due(&globex_id).await;
    let (_, refused) = env.get(&globex, &globex_id).await;
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["last_check"]["outcome"], "claimed");
    assert!(
        refused["last_check"]["message"]
            .as_str()
            .expect("message")
            .contains("already verified by another organization")
    );
    assert_eq!(
        env.event_types(&globex_id).await,
        [
            "organization.domain_created",
            "organization.domain_dns_verification_failed"
        ]
    );
    // "Check now" and the integrator's verification are refused as well.
    let (_, rechecked) = env.verify(&globex, &globex_id, None).await;
    assert_eq!(rechecked["status"], "failed");
    let (status, body) = env
        .verify(&globex, &globex_id, Some(json!({ "method": "admin" })))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");

    // A new claim, of the domain or of a name below it (Acme covers subdomains), is refused.
    let res = env
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/organizations/{globex}/domains/{globex_id}"),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    for name in ["shared.test", "eu.shared.test"] {
        let (status, body) = env.create(&globex, json!({ "domain": name })).await;
        assert_eq!(status, 409, "{name}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("message")
                .contains("already verified by another organization")
        );
    }
    assert_eq!(
        db::domains::count_verified(env.app.conn(), "shared.test")
            .await
            .expect("count"),
        1
    );
}

async fn racing_verifications_of_one_domain_by_two_organizations_let_one_win(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let globex = env.app.org_id("Globex").await;
    let a = env.add(&acme, "race.test").await;
    let g = env.add(&globex, "race.test").await;
    // Both records are published and both checks come due in the same pass: the organizations'
    // actors record them side by side, and the schema lets only one verification stand.
    env.dns.set_txt(
        "_portal-challenge.race.test",
        &[
            &[a["txt_record"]["value"].as_str().expect("value")],
            &[g["txt_record"]["value"].as_str().expect("value")],
        ],
    );
    let at = env
        .due_at(&id_of(&a))
        .await
        .max(env.due_at(&id_of(&g)).await);
    assert_eq!(env.run_at(at).await.checked, 2);
    let statuses = [
        env.row(&id_of(&a)).await.status,
        env.row(&id_of(&g)).await.status,
    ];
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, ["failed", "verified"], "{statuses:?}");
    assert_eq!(
        db::domains::count_verified(env.app.conn(), "race.test")
            .await
            .expect("count"),
        1
    );

    // The same race through the integrator's verification: one 200, one 409.
    let a2 = env.add(&acme, "race2.test").await;
    let g2 = env.add(&globex, "race2.test").await;
    let (ra, rg) = futures_util::future::join(
        env.verify(&acme, &id_of(&a2), Some(json!({ "method": "admin" }))),
        env.verify(&globex, &id_of(&g2), Some(json!({ "method": "admin" }))),
    )
    .await;
    let mut codes = [ra.0, rg.0];
    codes.sort();
    assert_eq!(codes, [200, 409], "{ra:?} {rg:?}");
    assert_eq!(
        db::domains::count_verified(env.app.conn(), "race2.test")
            .await
            .expect("count"),
        1
    );
}

async fn public_mail_domains_and_non_domains_are_refused(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let cases = [
        json!({ "domain": "gmail.com" }),
        json!({ "domain": "Outlook.COM." }),
        json!({ "domain": "not a domain" }),
        json!({ "domain": "https://acme.test/x" }),
        json!({ "domain": "localhost" }),
        json!({}),
    ];
    for body in cases {
        let (status, answer) = env.create(&acme, body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["error"]["field"], "domain", "{body}");
    }
    let (status, answer) = env
        .create(&acme, json!({ "domain": "acme.test", "colour": "red" }))
        .await;
    assert_eq!(status, 422, "unknown fields are refused: {answer}");
    let (status, _) = env
        .create("org_does_not_exist", json!({ "domain": "acme.test" }))
        .await;
    assert_eq!(status, 404);
    assert!(
        db::domains::list_for_org(env.app.conn(), &acme)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn international_names_are_verified_by_their_ascii_form(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, "Bücher.Example").await;
    assert_eq!(created["domain"], "xn--bcher-kva.example");
    assert_eq!(
        created["txt_record"]["name"],
        "_portal-challenge.xn--bcher-kva.example"
    );
    let (status, same) = env
        .create(&acme, json!({ "domain": "xn--bcher-kva.example" }))
        .await;
    assert_eq!((status, &same["id"]), (200, &created["id"]));
    env.publish(&created);
    env.run_when_due(&id_of(&created)).await;
    assert_eq!(env.row(&id_of(&created)).await.status, "verified");
}

async fn the_api_keeps_each_organization_to_its_own_domains(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let globex = env.app.org_id("Globex").await;
    let created = env.add(&acme, "mine.test").await;
    let id = id_of(&created);
    let paths = [
        (
            reqwest::Method::GET,
            format!("/api/v1/organizations/{globex}/domains/{id}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/organizations/{globex}/domains/{id}"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/organizations/{globex}/domains/{id}/verify"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/organizations/{acme}/domains/dom_unknown"),
        ),
    ];
    for (method, path) in paths {
        let res = env
            .api(method.clone(), &path)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 404, "{method} {path}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let list: Value = env
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/organizations/{globex}/domains"),
        )
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list["data"],
        json!([]),
        "Globex sees none of Acme's domains"
    );
    let res = env
        .app
        .http()
        .get(
            env.app
                .url(&format!("/api/v1/organizations/{acme}/domains")),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401, "the API needs a bearer token");
    let (status, body) = env
        .verify(&acme, &id, Some(json!({ "method": "magic" })))
        .await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("method")));
    // Acme's domain is still there, untouched.
    assert_eq!(env.get(&acme, &id).await.0, 200);
    let res = env
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/organizations/{acme}/domains/{id}"),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    assert_eq!(env.get(&acme, &id).await.0, 404);
    assert_eq!(
        env.event_types(&id).await,
        ["organization.domain_created", "organization.domain_deleted"]
    );
}

async fn the_integrator_can_mark_a_domain_verified_without_dns(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let created = env.add(&acme, "trusted.test").await;
    let id = id_of(&created);
    // "Check now" looks the record up at once (and counts as a check).
    let (status, checked) = env.verify(&acme, &id, None).await;
    assert_eq!(status, 200);
    assert_eq!(checked["status"], "pending");
    assert_eq!(checked["last_check"]["outcome"], "nxdomain");
    assert_eq!(env.dns.queries_for("_portal-challenge.trusted.test"), 1);
    let (status, verified) = env
        .verify(&acme, &id, Some(json!({ "method": "admin" })))
        .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["status"], "verified");
    assert_eq!(verified["verification_method"], "admin");
    assert_eq!(
        env.dns.queries_for("_portal-challenge.trusted.test"),
        1,
        "no DNS"
    );
    assert!(
        env.row(&id).await.next_check_at.is_none(),
        "never re-checked on its own"
    );
    assert_eq!(
        env.event_types(&id).await,
        [
            "organization.domain_created",
            "organization.domain_verified"
        ]
    );
    // Asking again changes nothing.
    let (status, _) = env
        .verify(&acme, &id, Some(json!({ "method": "admin" })))
        .await;
    assert_eq!(status, 200);
    assert_eq!(env.event_types(&id).await.len(), 2);
}

async fn enable_domains(app: &TestApp, org: &str) {
    db::orgs::set_feature(app.conn(), org, Feature::DomainVerification, true)
        .await
        .expect("set feature");
}

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    browser.sign_in_via_demo(email, PASSWORD).await;
    browser
}

async fn the_domains_widget_needs_the_feature_and_its_permissions_on_every_request(
    backend: Backend,
) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let app = &env.app;
    let acme = app.org_id("Acme").await;
    let admin = signed_in(app, "admin@acme.test").await;
    let member = signed_in(app, "member@acme.test").await;

    // Without the feature the widget is hidden: no link, and its address answers a friendly 403.
    let members = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(!members.contains("/ui/organization/domains"));
    let res = admin.get("/ui/organization/domains").await;
    assert_eq!(res.status(), 403);
    let page = res.text().await.expect("page");
    assert!(page.contains("You don't have access to this page") && page.contains("/ui/"));
    let csrf = form_value(&members, "csrf").unwrap_or_default();
    let res = admin
        .post_form(
            "/ui/organization/domains",
            &[("csrf", &csrf), ("domain", "acme.test")],
        )
        .await;
    assert_eq!(res.status(), 403, "writes are refused too");

    enable_domains(app, &acme).await;
    let members = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        members.contains("href=\"/ui/organization/domains\""),
        "nav shows it"
    );
    let page = admin.get("/ui/organization/domains").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(page.contains("Add domain") && page.contains("How to verify a domain"));

    // A member may look (sk_org_settings_read) but not change anything (sk_org_settings_manage).
    let created = env.add(&acme, "look.test").await;
    let id = id_of(&created);
    let view = member.get("/ui/organization/domains").await;
    assert_eq!(view.status(), 200);
    let view = view.text().await.expect("page");
    assert!(view.contains("look.test") && view.contains("_portal-challenge.look.test"));
    assert!(
        !view.contains("method=\"post\"") && !view.contains("formaction="),
        "no form and no action buttons for a reader"
    );
    let member_csrf = form_value(&members, "csrf").unwrap_or_default();
    for path in [
        "/ui/organization/domains".to_string(),
        format!("/ui/organization/domains/{id}/check"),
        format!("/ui/organization/domains/{id}/delete"),
        "/ui/organization/domains/join-policy".to_string(),
    ] {
        let res = member
            .post_form(
                &path,
                &[
                    ("csrf", &member_csrf),
                    ("domain", "x.test"),
                    ("policy", "auto"),
                ],
            )
            .await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(
        env.row(&id).await.attempts,
        0,
        "the member's check did not run"
    );
    assert_eq!(
        db::domains::list_for_org(app.conn(), &acme)
            .await
            .expect("list")
            .len(),
        1
    );

    // Globex's admin cannot act on Acme's domain even with the feature on.
    let globex = app.org_id("Globex").await;
    enable_domains(app, &globex).await;
    let globex_admin = signed_in(app, "admin@globex.test").await;
    let page = globex_admin
        .get("/ui/organization/domains")
        .await
        .text()
        .await
        .expect("page");
    assert!(!page.contains("look.test"));
    let csrf = form_value(&page, "csrf").expect("csrf");
    for action in ["check", "delete"] {
        let res = globex_admin
            .post_form(
                &format!("/ui/organization/domains/{id}/{action}"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(res.status(), 404, "{action}");
    }
    assert_eq!(env.row(&id).await.attempts, 0);
}

async fn the_domains_widget_adds_checks_and_deletes_with_csrf_forms(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let app = &env.app;
    let acme = app.org_id("Acme").await;
    enable_domains(app, &acme).await;
    let admin = signed_in(app, "admin@acme.test").await;
    let page = admin
        .get("/ui/organization/domains")
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");

    // Refused input comes back with the field's error and what was typed.
    for (typed, error) in [
        ("gmail.com", "public email provider"),
        ("bad_name.example", "not a valid domain name"),
    ] {
        let res = admin
            .post_form(
                "/ui/organization/domains",
                &[
                    ("csrf", &csrf),
                    ("domain", typed),
                    ("include_subdomains", "on"),
                ],
            )
            .await;
        assert_eq!(res.status(), 422, "{typed}");
        let html = res.text().await.expect("page");
        assert!(html.contains(error), "{typed}: {html}");
        assert!(
            html.contains(&format!("value=\"{typed}\"")),
            "keeps {typed}"
        );
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("name=\"include_subdomains\" value=\"on\" checked"));
    }
    let res = admin
        .post_form("/ui/organization/domains", &[("domain", "acme.test")])
        .await;
    assert_eq!(res.status(), 403, "no CSRF token");
    let html = res.text().await.expect("page");
    assert!(html.contains("This form expired") && html.contains("value=\"acme.test\""));

    let res = admin
        .post_form(
            "/ui/organization/domains",
            &[("csrf", &csrf), ("domain", "Widget.Test")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let domain = db::domains::list_for_org(app.conn(), &acme)
        .await
        .expect("list")
        .pop()
        .expect("added");
    assert_eq!(domain.domain, "widget.test");
    assert_eq!(
        location(&res),
        format!("/ui/organization/domains#domain-{}", domain.id)
    );
    let page = admin
        .get("/ui/organization/domains")
        .await
        .text()
        .await
        .expect("page");
    let value = format!("portal-verification={}", domain.verification_token);
    assert!(page.contains("_portal-challenge.widget.test") && page.contains(&value));
    assert!(page.contains("data-copy=") && page.contains("/static/domains.js"));
    assert!(page.contains("Not checked yet.") && page.contains("Pending"));
    let script = admin.get("/static/domains.js").await;
    assert_eq!(script.status(), 200);
    assert!(script.text().await.expect("js").contains("clipboard"));

    // Check now, without the record: the answer in words.
    let check = format!("/ui/organization/domains/{}/check", domain.id);
    assert_eq!(admin.post_form(&check, &[]).await.status(), 403, "no CSRF");
    assert_eq!(env.row(&domain.id).await.attempts, 0);
    let res = admin.post_form(&check, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let page = admin
        .get("/ui/organization/domains")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("no TXT record found"), "{page}");
    // With the record: verified.
    env.dns
        .set_txt_value("_portal-challenge.widget.test", &value);
    admin.post_form(&check, &[("csrf", &csrf)]).await;
    let page = admin
        .get("/ui/organization/domains")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("badge verified") && page.contains("record found and it matches"));

    // The join policy form.
    let res = admin
        .post_form(
            "/ui/organization/domains/join-policy",
            &[("csrf", &csrf), ("policy", "sometimes")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = admin
        .post_form(
            "/ui/organization/domains/join-policy",
            &[("csrf", &csrf), ("policy", "suggest")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let org = db::orgs::find(app.conn(), &acme)
        .await
        .expect("query")
        .expect("org");
    assert_eq!(org.domain_join_policy, "suggest");

    // Delete.
    let delete = format!("/ui/organization/domains/{}/delete", domain.id);
    assert_eq!(admin.post_form(&delete, &[]).await.status(), 403, "no CSRF");
    let res = admin.post_form(&delete, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert!(
        db::domains::find(app.conn(), &domain.id)
            .await
            .expect("query")
            .is_none()
    );
    let res = admin.post_form(&delete, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 404, "already gone");
}

/// The `data-live-seq` a widget page was rendered at.
fn page_seq(html: &str) -> i64 {
    let marker = "data-live-seq=\"";
    let start = html.find(marker).expect("live page") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("seq")
        .parse()
        .expect("number")
}

async fn the_domains_widget_turns_green_live_when_the_domain_is_verified(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let app = &env.app;
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    enable_domains(app, &acme).await;
    enable_domains(app, &globex).await;
    let admin = signed_in(app, "admin@acme.test").await;
    let member = signed_in(app, "member@acme.test").await;
    let outsider = signed_in(app, "admin@globex.test").await;
    let seq = page_seq(
        &admin
            .get("/ui/organization/domains")
            .await
            .text()
            .await
            .expect("page"),
    );
    let mut admin_socket = admin.open_socket("domains", seq).await;
    let mut member_socket = member.open_socket("domains", seq).await;
    let mut members_page_socket = admin.open_socket("members", seq).await;
    let mut outsider_socket = outsider.open_socket("domains", seq).await;

    let created = env.add(&acme, "live.test").await;
    let id = id_of(&created);
    let frame = admin_socket.next_frame().await;
    assert_eq!(frame["type"], "organization.domain_created");
    assert_eq!(
        (&frame["op"], &frame["list"]),
        (&json!("upsert"), &json!("domains"))
    );
    assert_eq!(frame["target"], format!("domain-{id}"));
    let html = frame["html"].as_str().expect("html");
    assert!(html.contains("badge pending") && html.contains("Check now"));

    env.publish(&created);
    env.run_when_due(&id).await;
    let frame = admin_socket.next_frame().await;
    assert_eq!(
        frame["type"],
        "organization.domain_dns_verification_success"
    );
    let html = frame["html"].as_str().expect("html");
    assert!(
        html.contains("data-status=\"verified\"") && html.contains("badge verified"),
        "{html}"
    );
    assert!(html.contains("record found and it matches"));

    // The member sees the same rows, without the buttons.
    let first = member_socket.next_frame().await;
    assert_eq!(first["type"], "organization.domain_created");
    let second = member_socket.next_frame().await;
    let html = second["html"].as_str().expect("html");
    assert!(html.contains("badge verified") && !html.contains("Check now"));

    // Other organizations' sockets, and other widgets, get none of it: their next frame is their
    // own later change.
    let theirs = env.add(&globex, "other.test").await;
    let frame = outsider_socket.next_frame().await;
    assert_eq!(frame["target"], format!("domain-{}", id_of(&theirs)));
    assert!(!frame["html"].as_str().expect("html").contains("live.test"));
    let res = app
        .add_member(&acme, json!({ "email": "new@acme.test", "name": "New" }))
        .await;
    assert_eq!(res.status(), 201);
    let frame = members_page_socket.next_frame().await;
    assert_eq!(frame["type"], "user.organization_membership_created");

    // Deleting removes the row live.
    let res = env
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/organizations/{acme}/domains/{id}"),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    let frame = admin_socket.next_frame().await;
    assert_eq!(frame["op"], "remove");
    assert_eq!(frame["target"], format!("domain-{id}"));
}

/// The sign-in answer for `email` through the demo app: where Portal sends the browser next.
async fn demo_sign_in(browser: &Browser, email: &str) -> reqwest::Response {
    let (_, login_url) = browser.follow(browser.get("/demo/login").await).await;
    browser.submit_login(&login_url, email, PASSWORD).await
}

async fn an_address_on_a_verified_domain_of_an_sso_organization_signs_into_it(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let app = &env.app;
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    for org in [&acme, &globex] {
        let res = app
            .add_member(
                org,
                json!({ "email": "alice@globex.test", "name": "Alice" }),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let user = db::users::find_by_email(
        app.conn(),
        &portal::domain::EmailAddress::parse("alice@globex.test").expect("email"),
    )
    .await
    .expect("query")
    .expect("user");
    db::users::set_password_hash(
        app.conn(),
        &user.id,
        portal::crypto::Passwords::hash(PASSWORD.to_string())
            .await
            .expect("hash"),
    )
    .await
    .expect("password");

    // A user of two organizations picks one…
    let res = demo_sign_in(&app.browser(), "alice@globex.test").await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/a/auth/organization?request="));

    // …also when Globex verified its domain but has no SSO…
    let domain = env.add(&globex, "globex.test").await;
    let (status, _) = env
        .verify(&globex, &id_of(&domain), Some(json!({ "method": "admin" })))
        .await;
    assert_eq!(status, 200);
    let res = demo_sign_in(&app.browser(), "alice@globex.test").await;
    assert!(location(&res).starts_with("/a/auth/organization?request="));

    // …but with SSO enabled the address belongs to Globex's realm: the sign-in goes there.
    db::orgs::set_feature(app.conn(), &globex, Feature::Sso, true)
        .await
        .expect("feature");
    let browser = app.browser();
    let res = demo_sign_in(&browser, "alice@globex.test").await;
    assert_eq!(res.status(), 303);
    let next = location(&res);
    assert!(next.contains("/demo/callback?code="), "{next}");
    let (page, _) = browser.follow(res).await;
    let claims = page.text().await.expect("claims page");
    assert!(
        claims.contains(&globex),
        "the tokens are for Globex: {claims}"
    );
    assert!(!claims.contains(&acme));
    // The widgets open in Globex too.
    let members = browser
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(members.contains("admin@globex.test") && !members.contains("member@acme.test"));

    // A verified parent does not cover subdomains unless asked: eu.globex.test is no realm.
    let res = app
        .add_member(
            &acme,
            json!({ "email": "bob@eu.globex.test", "name": "Bob" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .add_member(
            &globex,
            json!({ "email": "bob@eu.globex.test", "name": "Bob" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let bob = db::users::find_by_email(
        app.conn(),
        &portal::domain::EmailAddress::parse("bob@eu.globex.test").expect("email"),
    )
    .await
    .expect("query")
    .expect("user");
    db::users::set_password_hash(
        app.conn(),
        &bob.id,
        portal::crypto::Passwords::hash(PASSWORD.to_string())
            .await
            .expect("hash"),
    )
    .await
    .expect("password");
    let res = demo_sign_in(&app.browser(), "bob@eu.globex.test").await;
    assert!(location(&res).starts_with("/a/auth/organization?request="));
}

/// A server with DNS and a real SMTP sink, for sign-ups.
async fn env_with_mail(backend: Backend) -> Option<(Env, SmtpSink)> {
    let sink = SmtpSink::start().await?;
    let dns = DnsServer::start().await?;
    let settings = dns_settings(&dns, 4);
    let url = sink.url();
    let app = TestApp::spawn_with(backend, move |s| {
        s.dns = settings;
        s.smtp_url = Some(url);
    })
    .await?;
    let token = app.api_token().await;
    Some((Env { app, dns, token }, sink))
}

async fn set_policy(env: &Env, org: &str, policy: &str) {
    let res = env
        .api(
            reqwest::Method::PUT,
            &format!("/api/v1/organizations/{org}/domain-join-policy"),
        )
        .json(&json!({ "policy": policy }))
        .send()
        .await
        .expect("set policy");
    assert_eq!(res.status(), 200);
}

/// Signs up `email` and enters the emailed code; returns the browser and the final answer.
async fn sign_up(env: &Env, sink: &SmtpSink, email: &str) -> (Browser, reqwest::Response) {
    let browser = env.app.browser();
    let page = browser
        .get("/a/auth/signup")
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let res = browser
        .post_form(
            "/a/auth/signup",
            &[
                ("csrf", &csrf),
                ("name", "New Person"),
                ("email", email),
                ("password", "plum-orbit-candle-harbor"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let code = sink
        .wait_for_message(email, DEADLINE)
        .await
        .code()
        .expect("code");
    let res = browser
        .post_form(
            "/a/auth/signup/verify",
            &[("csrf", &csrf), ("email", email), ("code", &code)],
        )
        .await;
    assert_eq!(res.status(), 303);
    (browser, res)
}

async fn memberships_of(app: &TestApp, email: &str) -> Vec<(String, String)> {
    let user = db::users::find_by_email(
        app.conn(),
        &portal::domain::EmailAddress::parse(email).expect("email"),
    )
    .await
    .expect("query")
    .expect("user");
    let mut out = Vec::new();
    for m in db::members::active_for_user(app.conn(), &user.id)
        .await
        .expect("memberships")
    {
        let role = db::roles::find(app.conn(), &m.role_id)
            .await
            .expect("role")
            .expect("role")
            .name;
        out.push((m.organization_id, role));
    }
    out
}

async fn signing_up_on_a_verified_domain_with_auto_joining_makes_a_member(backend: Backend) {
    let Some((env, sink)) = env_with_mail(backend).await else {
        return;
    };
    let app = &env.app;
    let acme = app.org_id("Acme").await;
    let domain = env.add(&acme, "acme.test").await;
    env.verify(&acme, &id_of(&domain), Some(json!({ "method": "admin" })))
        .await;
    set_policy(&env, &acme, "auto").await;
    let before = db::events::last_seq(app.conn()).await.expect("seq");

    let (browser, res) = sign_up(&env, &sink, "New.Hire@Acme.test").await;
    assert_eq!(location(&res), "/ui/");
    assert_eq!(
        memberships_of(app, "new.hire@acme.test").await,
        [(acme.clone(), "member".to_string())],
        "joined Acme as a member, with no organization of their own"
    );
    let events = db::events::after(app.conn(), before, 100)
        .await
        .expect("events");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.organization_membership_created",
            "session.created",
            "user.login"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.organization_id.as_deref() == Some(acme.as_str()))
    );
    let page = browser
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("admin@acme.test") && page.contains("new.hire@acme.test"));

    // A subdomain is not covered (the domain was added without its subdomains)…
    sign_up(&env, &sink, "someone@eu.acme.test").await;
    let theirs = memberships_of(app, "someone@eu.acme.test").await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0].0, acme);
    assert_eq!(theirs[0].1, "admin", "an organization of their own");
    // …and with the policy off nobody joins.
    set_policy(&env, &acme, "off").await;
    sign_up(&env, &sink, "later@acme.test").await;
    let theirs = memberships_of(app, "later@acme.test").await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0].0, acme);
}

async fn signing_up_on_a_verified_domain_with_suggested_joining_asks_first(backend: Backend) {
    let Some((env, sink)) = env_with_mail(backend).await else {
        return;
    };
    let app = &env.app;
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    let domain = env
        .create(
            &acme,
            json!({ "domain": "acme.test", "include_subdomains": true }),
        )
        .await
        .1;
    env.verify(&acme, &id_of(&domain), Some(json!({ "method": "admin" })))
        .await;
    set_policy(&env, &acme, "suggest").await;

    // Someone who declines keeps only their own organization.
    let (browser, res) = sign_up(&env, &sink, "shy@eu.acme.test").await;
    let join_page = location(&res);
    assert!(join_page.starts_with("/a/auth/join"), "{join_page}");
    let page = browser.get(&join_page).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(page.contains("Join Acme?") && page.contains("acme.test"));
    let csrf = form_value(&page, "csrf").expect("csrf");
    let res = browser
        .post_form(
            "/a/auth/join",
            &[("organization_id", acme.as_str()), ("choice", "join")],
        )
        .await;
    assert_eq!(res.status(), 403, "no CSRF token");
    let res = browser
        .post_form(
            "/a/auth/join",
            &[
                ("csrf", &csrf),
                ("organization_id", &acme),
                ("choice", "decline"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/ui/");
    let theirs = memberships_of(app, "shy@eu.acme.test").await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0].0, acme);

    // Someone who accepts becomes a member and continues in Acme.
    let (browser, res) = sign_up(&env, &sink, "keen@acme.test").await;
    let page = browser
        .get(&location(&res))
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    // Only the suggested organization can be joined this way.
    let res = browser
        .post_form(
            "/a/auth/join",
            &[
                ("csrf", &csrf),
                ("organization_id", &globex),
                ("choice", "join"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(
        memberships_of(app, "keen@acme.test")
            .await
            .iter()
            .all(|(o, _)| *o != globex)
    );
    let res = browser
        .post_form(
            "/a/auth/join",
            &[
                ("csrf", &csrf),
                ("organization_id", &acme),
                ("choice", "join"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/ui/");
    let theirs = memberships_of(app, "keen@acme.test").await;
    assert!(
        theirs.contains(&(acme.clone(), "member".to_string())),
        "{theirs:?}"
    );
    let page = browser
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("admin@acme.test"),
        "the session is in Acme now"
    );
    // The suggestion is gone once taken.
    let res = browser.get("/a/auth/join").await;
    assert_eq!(res.status(), 303);
}

async fn the_join_policy_is_set_through_the_api_and_checked(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let acme = env.app.org_id("Acme").await;
    let put = |org: String, body: Value| {
        let req = env.api(
            reqwest::Method::PUT,
            &format!("/api/v1/organizations/{org}/domain-join-policy"),
        );
        async move {
            let res = req.json(&body).send().await.expect("put");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = put(acme.clone(), json!({ "policy": "always" })).await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("policy")));
    let (status, _) = put(acme.clone(), json!({})).await;
    assert_eq!(status, 422);
    let (status, _) = put("org_nope".into(), json!({ "policy": "auto" })).await;
    assert_eq!(status, 404);
    let (status, body) = put(acme.clone(), json!({ "policy": "AUTO" })).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "organization_id": acme, "domain_join_policy": "auto" })
    );
    let events = db::events::after(env.app.conn(), 0, 1000)
        .await
        .expect("events");
    let updated: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "organization.updated")
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].data["domain_join_policy"], "auto");
    // Setting the same policy again writes nothing.
    put(acme.clone(), json!({ "policy": "auto" })).await;
    let again = db::events::after(env.app.conn(), 0, 1000)
        .await
        .expect("events");
    assert_eq!(again.len(), events.len());
}
