//! Two real `portal serve` processes sharing one PostgreSQL database: a change made through one
//! reaches the widget sockets of the other (outbox + LISTEN/NOTIFY), and a node that was down
//! catches up from the outbox when the page resumes.

use crate::helpers::{Backend, Browser, CLIENT_SECRET, PASSWORD, TestDatabase};
use crate::live::page_seq;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `portal serve` child process, killed when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Node {
    /// Starts a node on a free port with `public_url` (the same for all nodes, as behind one load
    /// balancer) and waits until it answers `/healthz`.
    async fn start(db: &TestDatabase, public_url: &str, port: u16) -> Node {
        let data_dir = db.data_dir().join(format!("node-{port}"));
        let log = std::env::var("TEST_LOG").is_ok();
        let child = Command::new(env!("CARGO_BIN_EXE_portal"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORTAL_DATABASE_URL", &db.url)
            .env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
            .env("PORTAL_PUBLIC_URL", public_url)
            .env("PORTAL_DATA_DIR", &data_dir)
            .env("PORTAL_DEMO", "true")
            .env("PORTAL_DEMO_PASSWORD", PASSWORD)
            .env("PORTAL_DEMO_CLIENT_SECRET", CLIENT_SECRET)
            .env("PORTAL_WORKERS", "1")
            .env(
                "PORTAL_LOG",
                if log { "info,portal=debug" } else { "error" },
            )
            .stdout(Stdio::null())
            .stderr(if log { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .expect("portal serve starts");
        let node = Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        // Start-up migrates and seeds; on a loaded machine that takes a while.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let http = reqwest::Client::new();
        loop {
            if let Ok(res) = http.get(format!("{}/healthz", node.base)).send().await
                && res.status() == 200
            {
                return node;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node on port {port} did not come up"
            );
            // Poll interval while waiting for the condition above, not a wait for an outcome.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn api_token(base: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth("demo-app", Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn add_member(base: &str, token: &str, org: &str, email: &str) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/organizations/{org}/users"))
        .bearer_auth(token)
        .json(&json!({ "email": email, "name": email }))
        .send()
        .await
        .expect("add");
    assert_eq!(res.status(), 201);
}

async fn org_id(base: &str, token: &str, name: &str) -> String {
    let body: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/organizations"))
        .bearer_auth(token)
        .send()
        .await
        .expect("orgs")
        .json()
        .await
        .expect("json");
    body["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|o| o["name"] == name)
        .and_then(|o| o["id"].as_str())
        .expect("org")
        .to_string()
}

fn browser_for(base: &str) -> Browser {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .expect("client");
    Browser {
        client,
        jar,
        base: base.to_string(),
    }
}

/// The same browser (cookies) talking to another node.
fn same_browser_on(browser: &Browser, base: &str) -> Browser {
    Browser {
        client: browser.client.clone(),
        jar: browser.jar.clone(),
        base: base.to_string(),
    }
}

#[actix_web::test]
async fn a_change_through_one_node_reaches_sockets_on_another_and_a_restarted_node_catches_up() {
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let port_a = free_port();
    let public = format!("http://127.0.0.1:{port_a}");
    let a = Node::start(&db, &public, port_a).await;
    let b = Node::start(&db, &public, free_port()).await;

    let token = api_token(&a.base).await;
    let acme = org_id(&a.base, &token, "Acme").await;
    let browser = browser_for(&a.base);
    browser.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let seq = page_seq(
        &browser
            .get("/ui/organization/members")
            .await
            .text()
            .await
            .expect("page"),
    );

    // Written through A, seen on a socket of B.
    let on_b = same_browser_on(&browser, &b.base);
    let mut socket = on_b
        .open_socket_with_origin("members", seq, &public)
        .await
        .expect("socket on B");
    add_member(&a.base, &token, &acme, "via.a@acme.test").await;
    let frame = socket.next_frame().await;
    assert!(
        frame["html"]
            .as_str()
            .expect("html")
            .contains("via.a@acme.test")
    );
    let last_seen = frame["seq"].as_i64().expect("seq");

    // B goes down hard; A keeps writing.
    drop(socket);
    drop(b);
    add_member(&a.base, &token, &acme, "while.down.1@acme.test").await;
    add_member(&a.base, &token, &acme, "while.down.2@acme.test").await;

    // B comes back; the page resumes from what it saw and misses nothing, then goes live again.
    let b = Node::start(&db, &public, free_port()).await;
    let on_b = same_browser_on(&browser, &b.base);
    let mut socket = on_b
        .open_socket_with_origin("members", last_seen, &public)
        .await
        .expect("socket on restarted B");
    let mut seqs = vec![last_seen];
    for email in ["while.down.1@acme.test", "while.down.2@acme.test"] {
        let frame = socket.next_frame().await;
        assert!(
            frame["html"].as_str().expect("html").contains(email),
            "{frame}"
        );
        seqs.push(frame["seq"].as_i64().expect("seq"));
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    add_member(&a.base, &token, &acme, "after.restart@acme.test").await;
    let frame = socket.next_frame().await;
    assert!(
        frame["html"]
            .as_str()
            .expect("html")
            .contains("after.restart@acme.test"),
        "{frame}"
    );
    drop(a);
}

/// Records the relay wake-ups it is sent.
struct WakeProbe(tokio::sync::mpsc::UnboundedSender<Option<i64>>);

impl actix::Actor for WakeProbe {
    type Context = actix::Context<Self>;
}

impl actix::Handler<portal::actors::outbox_relay::Wake> for WakeProbe {
    type Result = ();
    fn handle(&mut self, msg: portal::actors::outbox_relay::Wake, _: &mut Self::Context) {
        let _ = self.0.send(msg.seq);
    }
}

/// The listener hears another connection's commit with its sequence, as another node's relay would.
#[actix_web::test]
async fn the_postgres_listener_wakes_the_relay_with_each_commits_sequence() {
    use actix::Actor;
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let app = crate::helpers::TestApp::spawn_on(db).await;
    let (tx, mut woken) = tokio::sync::mpsc::unbounded_channel();
    let probe = WakeProbe(tx).start();
    portal::actors::pg_listener::PgWakeListener::new(
        app.settings.database_url.clone().expect("url"),
        probe.recipient(),
    )
    .start();
    // Listening starts with a wake-up without a sequence (catch up on what came before).
    let first = tokio::time::timeout(crate::helpers::DEADLINE, woken.recv())
        .await
        .expect("listening");
    assert_eq!(first, Some(None));

    let write = app.app_state.db.begin_write().await.expect("tx");
    let published = portal::db::events::append(
        &write,
        vec![portal::db::events::NewEvent {
            event_type: "test.ping",
            organization_id: None,
            user_id: None,
            data: json!({}),
        }],
    )
    .await
    .expect("append");
    write.commit().await.expect("commit");
    let seq = published[0].seq;
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        let got = tokio::time::timeout_at(deadline, woken.recv())
            .await
            .expect("a notification with the commit's sequence");
        if got == Some(Some(seq)) {
            break;
        }
    }

    // The listening connection is killed: the listener reconnects, wakes the relay to read what
    // it may have missed, and hears later commits again.
    use sea_orm::ConnectionTrait;
    let killed = app
        .conn()
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .await
        .expect("terminate");
    assert!(
        killed.rows_affected() >= 1,
        "the listening connection was found"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = tokio::time::timeout_at(deadline, woken.recv())
            .await
            .expect("a catch-up wake-up after the reconnect");
        if got == Some(None) {
            break;
        }
    }
    // Once it listens again (the catch-up wake-up above is sent after LISTEN), a commit is heard.
    let write = app.app_state.db.begin_write().await.expect("tx");
    let published = portal::db::events::append(
        &write,
        vec![portal::db::events::NewEvent {
            event_type: "test.ping",
            organization_id: None,
            user_id: None,
            data: json!({}),
        }],
    )
    .await
    .expect("append");
    write.commit().await.expect("commit");
    let seq = published[0].seq;
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        let got = tokio::time::timeout_at(deadline, woken.recv())
            .await
            .expect("a notification after the reconnect");
        if got == Some(Some(seq)) {
            break;
        }
    }
}
