//! `portal bench live --sockets N`: commit-to-receive latency and deliveries per second to N open
//! widget sockets, next to a bare broadcast loop feeding the same sockets.
//!
//! The server (and so the N server-side sockets) runs in this process on port 0 with a scratch
//! SQLite database (or `--database-url`); the N clients run in a child process (`portal bench
//! live-clients`, the same binary), because a process may hold 20,000 files here and both ends of
//! 10,000 sockets would need more. Both raise their open-file soft limit to the hard limit. All
//! sockets are one admin's members page, so the hub renders each frame once. The server has
//! `--workers` HTTP workers (default one per core, as `portal serve`); the clients read on two
//! threads.
//!
//! Phases, in one run: (1) outbox path, single events: commit one membership event, wait until
//! every socket has it, repeat; (2) outbox path, a burst of events committed back to back
//! (deliveries per second); (3) and (4) the same with a bare loop that `try_send`s a pre-rendered
//! frame of the same size straight into every socket's mailbox (no database, relay or hub). Times
//! are wall-clock microseconds, taken by both processes on the same machine. RSS per idle socket is
//! this process's resident memory with N idle sockets minus before, divided by N.

use crate::actors::event_hub::{CountSubscribers, SocketRecipients, ToSocket};
use crate::config::Settings;
use crate::db::{self, events::NewEvent};
use crate::domain::{EmailAddress, PermissionSet};
use crate::startup::Application;
use anyhow::{Context, bail};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Clone, clap::Args)]
pub struct LiveBench {
    /// Widget sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Events committed one at a time (latency).
    #[arg(long, default_value_t = 20)]
    pub single: usize,
    /// Events committed back to back (deliveries per second); at most 200, below the sockets'
    /// mailbox, so the burst itself drops no one.
    #[arg(long, default_value_t = 50)]
    pub burst: usize,
    /// A PostgreSQL (or SQLite) URL; unset: a scratch SQLite file.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// HTTP worker threads of the server (the sockets are spread over them); 0: one per core.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

/// The client side, run by `portal bench live` in a child process.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveClients {
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub cookie: String,
    #[arg(long)]
    pub origin: String,
    #[arg(long)]
    pub sockets: usize,
}

/// Raises the open-file soft limit to the hard limit; answers the new limit.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Returns free heap pages to the system (glibc); a no-op elsewhere.
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// A synthetic but ordinary member row event (an invited member), as an import writes them.
fn member_event(org_id: &str, i: usize) -> NewEvent {
    NewEvent {
        event_type: "user.organization_membership_created",
        organization_id: Some(org_id.into()),
        user_id: Some(format!("usr_bench_{i}")),
        data: serde_json::json!({
            "membership": {
                "id": format!("mem_bench_{i}"), "organization_id": org_id,
                "user_id": format!("usr_bench_{i}"),
                "role": { "name": "member", "display_name": "Member", "permissions": [] },
                "status": "invited", "created_at": "2026-01-01T00:00:00Z"
            },
            "user": { "id": format!("usr_bench_{i}"), "email": format!("bench{i}@acme.test"), "name": format!("Bench User {i}") }
        }),
    }
}

struct Phase {
    name: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    deliveries: u64,
    per_second: f64,
}

struct Child {
    process: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Child {
    async fn line(&mut self, timeout: Duration) -> anyhow::Result<String> {
        match tokio::time::timeout(timeout, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => bail!("the client process ended"),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => bail!("the client process did not answer in {timeout:?}"),
        }
    }

    /// Waits until every socket has `seq`.
    async fn complete(&mut self, seq: i64) -> anyhow::Result<()> {
        loop {
            let line = self.line(Duration::from_secs(120)).await?;
            if let Some(done) = line.strip_prefix("complete ")
                && done.trim().parse::<i64>().ok() >= Some(seq)
            {
                return Ok(());
            }
        }
    }

    async fn report(
        &mut self,
        name: &'static str,
        sent: &[(i64, u64)],
        per_second: bool,
    ) -> anyhow::Result<Phase> {
        let mut out = String::new();
        for (seq, t0) in sent {
            out.push_str(&format!("t {seq} {t0}\n"));
        }
        let (from, to) = (sent[0].0, sent[sent.len() - 1].0);
        out.push_str(&format!("report {from} {to}\n"));
        self.stdin.write_all(out.as_bytes()).await?;
        self.stdin.flush().await?;
        loop {
            let line = self.line(Duration::from_secs(60)).await?;
            if let Some(rest) = line.strip_prefix("report ") {
                let v: Vec<f64> = rest
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let [p50, p99, count, span_us] = v[..] else {
                    bail!("bad report line {line:?}");
                };
                return Ok(Phase {
                    name,
                    p50_ms: p50 / 1000.0,
                    p99_ms: p99 / 1000.0,
                    deliveries: count as u64,
                    per_second: if per_second && span_us > 0.0 {
                        count / (span_us / 1e6)
                    } else {
                        0.0
                    },
                });
            }
        }
    }
}

pub async fn run(b: LiveBench) -> anyhow::Result<()> {
    if b.burst > 200 || b.single == 0 || b.burst == 0 {
        bail!("--single must be at least 1 and --burst between 1 and 200");
    }
    let limit = raise_fd_limit();
    crate::startup::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("portal-bench-{}", crate::crypto::random_token(6)));
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.clone(),
        database_url: b.database_url.clone(),
        demo: true,
        workers: b.workers,
        ..Settings::default()
    };
    let backend = if settings.effective_database_url().starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let app = Application::build(settings).await?;
    let state = app.state().clone();
    let base = app.public_url().as_str().trim_end_matches('/').to_string();
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());

    // One admin session, shared by every socket.
    let conn = state.db.conn();
    let admin = db::users::find_by_email(conn, &EmailAddress::parse("admin@acme.test")?)
        .await?
        .context("demo admin")?;
    let acme = db::orgs::list(conn, None, 100)
        .await?
        .into_iter()
        .find(|o| o.name == "Acme")
        .context("demo organization")?;
    let token = crate::crypto::random_token(32);
    db::sessions::create(
        conn,
        db::sessions::NewSession {
            token_hash: crate::crypto::token_hash(&token),
            user_id: &admin.id,
            organization_id: Some(&acme.id),
            auth_method: "password",
            user_agent: Some("portal bench live"),
            ip: None,
            now: db::now_ms(),
            absolute_expires_at: db::now_ms() + 86_400_000,
            idle_expires_at: None,
        },
    )
    .await?;
    let after = db::events::last_seq(conn).await?;
    trim_allocator();
    let rss_before = rss_kib();

    let mut process = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bench", "live-clients", "--url"])
        .arg(format!(
            "{}/ui/live?widget=members&after={after}",
            base.replacen("http", "ws", 1)
        ))
        .arg("--cookie")
        .arg(format!("portal_session={token}"))
        .arg("--origin")
        .arg(&base)
        .arg("--sockets")
        .arg(b.sockets.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("failed to start the client process")?;
    let mut child = Child {
        stdin: process.stdin.take().context("stdin")?,
        lines: BufReader::new(process.stdout.take().context("stdout")?).lines(),
        process,
    };
    let opened = Instant::now();
    loop {
        let line = child.line(Duration::from_secs(600)).await?;
        if line == "ready" {
            break;
        }
        if let Some(err) = line.strip_prefix("error ") {
            bail!("the clients could not connect: {err}");
        }
    }
    // Every socket subscribed (its replay done) before anything is measured.
    let deadline = Instant::now() + Duration::from_secs(120);
    while state.hub.send(CountSubscribers).await? < b.sockets {
        if Instant::now() > deadline {
            bail!("not every socket subscribed");
        }
        tokio::task::yield_now().await;
    }
    let open_secs = opened.elapsed().as_secs_f64();
    let rss_per_socket = (rss_kib().saturating_sub(rss_before)) as f64 / b.sockets as f64;
    // The same after handing the allocator's free pages back: what the sockets themselves hold,
    // without the handshakes' garbage that glibc keeps.
    trim_allocator();
    let rss_per_socket_trimmed = (rss_kib().saturating_sub(rss_before)) as f64 / b.sockets as f64;

    let mut phases = Vec::new();
    let mut i = 0;
    // Outbox path: each event its own transaction, then the commit announcement, as OrgActor does.
    let commit = async |i: usize| -> anyhow::Result<(i64, u64)> {
        let t0 = unix_us();
        let tx = state.db.begin_write().await?;
        let published = db::events::append(&tx, vec![member_event(&acme.id, i)]).await?;
        tx.commit().await?;
        state.outbox.committed_events(&published);
        Ok((published[0].seq, t0))
    };
    let mut sent = Vec::new();
    for _ in 0..b.single {
        let (seq, t0) = commit(i).await?;
        i += 1;
        child.complete(seq).await?;
        sent.push((seq, t0));
    }
    phases.push(
        child
            .report("outbox → hub, one event at a time", &sent, false)
            .await?,
    );
    let mut sent = Vec::new();
    for _ in 0..b.burst {
        sent.push(commit(i).await?);
        i += 1;
    }
    child.complete(sent[sent.len() - 1].0).await?;
    phases.push(child.report("outbox → hub, burst", &sent, true).await?);

    // Baseline: the same sockets, a pre-rendered frame of the same size, a bare loop.
    let recipients = state.hub.send(SocketRecipients).await?;
    let data = member_event(&acme.id, 0).data;
    let render = |seq: i64| -> anyhow::Result<bytestring::ByteString> {
        let sample = db::events::Event {
            id: "evt_bench".into(),
            seq,
            event_type: "user.organization_membership_created".into(),
            organization_id: Some(acme.id.clone()),
            user_id: None,
            occurred_at: String::new(),
            data: data.clone(),
        };
        let frame = crate::live::frames_for(&sample)
            .into_iter()
            .next()
            .context("a member frame")?;
        // The admin's view, as the hub renders it for these sockets.
        let key: PermissionSet = frame.relevant;
        Ok(crate::live::render(&frame, key))
    };
    let mut next_seq = db::events::last_seq(conn).await? + 1000;
    let broadcast = |seq: i64, text: bytestring::ByteString| -> (i64, u64) {
        let t0 = unix_us();
        let published = Instant::now();
        for r in &recipients {
            let _ = r.try_send(ToSocket::Frame {
                seq,
                text: text.clone(),
                published,
            });
        }
        (seq, t0)
    };
    let mut sent = Vec::new();
    for _ in 0..b.single {
        let s = broadcast(next_seq, render(next_seq)?);
        next_seq += 1;
        child.complete(s.0).await?;
        sent.push(s);
    }
    phases.push(
        child
            .report("bare broadcast, one at a time", &sent, false)
            .await?,
    );
    let texts = (0..b.burst as i64)
        .map(|k| render(next_seq + k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut sent = Vec::new();
    for text in texts {
        sent.push(broadcast(next_seq, text));
        next_seq += 1;
    }
    child.complete(sent[sent.len() - 1].0).await?;
    phases.push(child.report("bare broadcast, burst", &sent, true).await?);

    let _ = child.stdin.shutdown().await;
    let _ = child.process.kill().await;
    handle.stop(false).await;
    let _ = std::fs::remove_dir_all(&dir);

    let workers = match b.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    println!(
        "portal bench live: {} sockets ({backend}, {workers} HTTP workers, fd limit {limit}); opened in {open_secs:.1} s",
        b.sockets
    );
    println!(
        "RSS per idle socket (server side): {rss_per_socket:.1} KiB; {rss_per_socket_trimmed:.1} KiB after malloc_trim"
    );
    println!(
        "{:<36} {:>9} {:>9} {:>11} {:>14}",
        "path", "p50 ms", "p99 ms", "deliveries", "deliveries/s"
    );
    for p in &phases {
        let rate = if p.per_second > 0.0 {
            format!("{:.0}", p.per_second)
        } else {
            "-".into()
        };
        println!(
            "{:<36} {:>9.2} {:>9.2} {:>11} {:>14}",
            p.name, p.p50_ms, p.p99_ms, p.deliveries, rate
        );
    }
    Ok(())
}

/// The client process: opens the sockets, reports each sequence every socket has, and on request
/// the latency of a range of sequences against the send times it is given.
pub async fn run_clients(c: LiveClients) -> anyhow::Result<()> {
    raise_fd_limit();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, u64)>();
    let mut opened = 0;
    // Open in waves so the server's accept queue and handshakes keep up.
    for wave in (0..c.sockets).collect::<Vec<_>>().chunks(200) {
        let connects = wave.iter().map(|_| {
            let mut req =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    c.url.as_str(),
                );
            if let Ok(req) = &mut req {
                if let Ok(v) = c.cookie.parse() {
                    req.headers_mut().insert("cookie", v);
                }
                if let Ok(v) = c.origin.parse() {
                    req.headers_mut().insert("origin", v);
                }
            }
            async move { tokio_tungstenite::connect_async(req?).await }
        });
        for result in futures_util::future::join_all(connects).await {
            match result {
                Ok((stream, _)) => {
                    opened += 1;
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let (_, mut read) = stream.split();
                        while let Some(Ok(msg)) = read.next().await {
                            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg
                                && let Some(seq) = text
                                    .strip_prefix("{\"seq\":")
                                    .and_then(|r| r.split([',', '}']).next())
                                    .and_then(|n| n.parse().ok())
                            {
                                let _ = tx.send((seq, unix_us()));
                            }
                        }
                    });
                }
                Err(e) => {
                    println!("error {e} (after {opened} sockets)");
                    return Ok(());
                }
            }
        }
    }
    drop(tx);
    println!("ready");
    let mut received: HashMap<i64, Vec<u64>> = HashMap::new();
    let mut sent: HashMap<i64, u64> = HashMap::new();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            got = rx.recv() => {
                let Some((seq, at)) = got else { break };
                let times = received.entry(seq).or_default();
                times.push(at);
                if times.len() == c.sockets {
                    println!("complete {seq}");
                }
            }
            line = stdin.next_line() => {
                let Ok(Some(line)) = line else { break };
                let parts: Vec<&str> = line.split_whitespace().collect();
                match parts[..] {
                    ["t", seq, t0] => {
                        if let (Ok(seq), Ok(t0)) = (seq.parse(), t0.parse()) {
                            sent.insert(seq, t0);
                        }
                    }
                    ["report", from, to] => {
                        let (from, to): (i64, i64) = (from.parse()?, to.parse()?);
                        let mut lat = Vec::new();
                        let (mut first, mut last) = (u64::MAX, 0);
                        for seq in from..=to {
                            let (Some(t0), Some(times)) = (sent.get(&seq), received.get(&seq)) else {
                                continue;
                            };
                            first = first.min(*t0);
                            for t in times {
                                lat.push(t.saturating_sub(*t0));
                                last = last.max(*t);
                            }
                        }
                        lat.sort_unstable();
                        let pick = |p: f64| lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(0);
                        println!("report {} {} {} {}", pick(0.5), pick(0.99), lat.len(), last.saturating_sub(first));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
