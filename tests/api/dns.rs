//! A real DNS server for tests: `tests/support/dns_server.py` (dnslib) on a free loopback port,
//! answering UDP and TCP, as a child process killed when the server is dropped. Its records are a
//! JSON zone file it reads again on every query, so a test changes them while the server runs:
//! TXT records (each a list of character-strings), a name without TXT records, an error code such
//! as SERVFAIL, or silence (a timeout). Names it does not know answer NXDOMAIN. Every query it
//! receives is reported on its output and counted.

use crate::helpers::{DEADLINE, python};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};

pub struct DnsServer {
    pub port: u16,
    zone: PathBuf,
    records: Mutex<BTreeMap<String, Value>>,
    queries: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    /// Starts a server with no records, or `None` (skip) when the Python peers are not here.
    pub async fn start() -> Option<Self> {
        let python = python()?;
        let dir = tempfile::tempdir().expect("zone directory");
        let zone = dir.path().join("zone.json");
        std::fs::write(&zone, "{}").expect("write the zone");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dns_server.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .arg("--zone")
            .arg(&zone)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the DNS server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("the DNS server starts before the deadline")
            .expect("read the server's output")
            .expect("the server says it is ready");
        let ready: Value = serde_json::from_str(&ready).expect("ready line is JSON");
        let port = ready["ready"].as_u64().expect("server port") as u16;
        let queries = Arc::new(Mutex::new(Vec::new()));
        let queries2 = queries.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(query) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(name) = query["query"].as_str() {
                    queries2
                        .lock()
                        .expect("queries lock")
                        .push(name.to_string());
                }
            }
        });
        Some(Self {
            port,
            zone,
            records: Mutex::new(BTreeMap::new()),
            queries,
            _dir: dir,
            _child: child,
        })
    }

    /// `127.0.0.1:<port>`, as `PORTAL_DNS_SERVERS` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn set(&self, name: &str, entry: Option<Value>) {
        let mut records = self.records.lock().expect("records lock");
        match entry {
            Some(entry) => records.insert(key(name), entry),
            None => records.remove(&key(name)),
        };
        // Written beside the zone and renamed over it, so the server never reads half a file.
        let next = self.zone.with_extension("next");
        std::fs::write(&next, serde_json::to_vec(&*records).expect("zone JSON")).expect("write");
        std::fs::rename(&next, &self.zone).expect("replace the zone");
    }

    /// TXT records at `name`, each given as its character-strings.
    pub fn set_txt(&self, name: &str, records: &[&[&str]]) {
        self.set(name, Some(json!({ "txt": records })));
    }

    /// One TXT record holding `text` in one character-string.
    pub fn set_txt_value(&self, name: &str, text: &str) {
        self.set_txt(name, &[&[text]]);
    }

    /// The name exists but has no TXT record.
    pub fn set_no_txt(&self, name: &str) {
        self.set(name, Some(json!({ "txt": [] })));
    }

    /// Queries for `name` answer with `rcode` (such as `SERVFAIL` or `REFUSED`).
    pub fn set_rcode(&self, name: &str, rcode: &str) {
        self.set(name, Some(json!({ "rcode": rcode })));
    }

    /// Queries for `name` get no answer at all.
    pub fn set_silent(&self, name: &str) {
        self.set(name, Some(json!({ "silent": true })));
    }

    /// Forgets `name`: it answers NXDOMAIN again.
    pub fn remove(&self, name: &str) {
        self.set(name, None);
    }

    /// How many queries for `name` arrived so far.
    pub fn queries_for(&self, name: &str) -> usize {
        let wanted = key(name);
        self.queries
            .lock()
            .expect("queries lock")
            .iter()
            .filter(|q| **q == wanted)
            .count()
    }
}
