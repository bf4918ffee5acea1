//! Domain verification against a real DNS server on loopback (`dns::DnsServer`): the widget, the
//! API, the verifier's schedule (driven by passing times, never by sleeping), home-realm discovery
//! and joining by domain at sign-up.

use crate::dns::DnsServer;
use portal::config::DnsSettings;
use portal::domains::dns::{TxtAnswer, TxtResolver};

fn resolver_for(dns: &DnsServer) -> TxtResolver {
    TxtResolver::from_settings(&DnsSettings {
        servers: dns.address(),
        timeout_ms: 300,
        attempts: 1,
        cache: false,
        concurrency: 4,
    })
    .expect("resolver")
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
