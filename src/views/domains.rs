//! The domains widget: the organization's domains with the TXT record each must publish, where its
//! verification stands and the last answer from DNS in words; the form to add one; the
//! domain-join policy. Rows are also what live frames carry, so they hold nothing per-viewer
//! except the permission to act: their buttons submit the page's one CSRF-carrying form
//! (`form="domain-actions"`), which a pushed row cannot and need not include.

use super::layout::csrf_field;
use crate::db::domains::Domain;
use crate::domain::{DomainJoinPolicy, Permission, PermissionSet};
use crate::domains::schedule::METHOD_ADMIN;
use crate::domains::{Status, record_name, record_value};
use crate::wire::domains::DomainJson;
use maud::{Markup, html};

/// The permissions that change how a domain row renders.
pub const DOMAIN_ROW_PERMISSIONS: [Permission; 1] = [Permission::OrgSettingsManage];

/// `12 Mar 2026, 14:03 UTC` for a millisecond timestamp.
pub fn datetime(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn ms_of(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// One domain as the widget shows it.
#[derive(Debug, Clone)]
pub struct DomainView {
    pub id: String,
    /// ASCII form, as DNS knows it.
    pub domain: String,
    /// The Unicode form when it differs (international names).
    pub unicode: Option<String>,
    pub status: Status,
    pub method: Option<String>,
    pub include_subdomains: bool,
    pub record_name: String,
    pub record_value: String,
    pub last_checked_at: Option<i64>,
    pub last_result: Option<String>,
    pub next_check_at: Option<i64>,
    pub verified_at: Option<i64>,
    pub missing_since: Option<i64>,
    pub expires_at: i64,
}

fn unicode_of(ascii: &str) -> Option<String> {
    let (unicode, ok) = idna::domain_to_unicode(ascii);
    (ok.is_ok() && unicode != ascii).then_some(unicode)
}

impl From<&Domain> for DomainView {
    fn from(d: &Domain) -> Self {
        Self {
            id: d.id.clone(),
            unicode: unicode_of(&d.domain),
            domain: d.domain.clone(),
            status: Status::parse(&d.status).unwrap_or(Status::Pending),
            method: d.verification_method.clone(),
            include_subdomains: d.include_subdomains,
            record_name: record_name(&d.domain),
            record_value: record_value(&d.verification_token),
            last_checked_at: d.last_checked_at,
            last_result: d.last_result.clone(),
            next_check_at: d.next_check_at,
            verified_at: d.verified_at,
            missing_since: d.missing_since,
            expires_at: d.expires_at,
        }
    }
}

impl From<&DomainJson> for DomainView {
    fn from(d: &DomainJson) -> Self {
        Self {
            id: d.id.clone(),
            unicode: unicode_of(&d.domain),
            domain: d.domain.clone(),
            status: Status::parse(&d.status).unwrap_or(Status::Pending),
            method: d.verification_method.clone(),
            include_subdomains: d.include_subdomains,
            record_name: d.txt_record.name.clone(),
            record_value: d.txt_record.value.clone(),
            last_checked_at: d.last_check.as_ref().and_then(|c| ms_of(&c.checked_at)),
            last_result: d.last_check.as_ref().and_then(|c| c.message.clone()),
            next_check_at: d.next_check_at.as_deref().and_then(ms_of),
            verified_at: d.verified_at.as_deref().and_then(ms_of),
            missing_since: d.record_missing_since.as_deref().and_then(ms_of),
            expires_at: ms_of(&d.expires_at).unwrap_or_default(),
        }
    }
}

pub fn domain_dom_id(domain_id: &str) -> String {
    format!("domain-{domain_id}")
}

/// Where the domain stands, in a sentence.
fn standing(d: &DomainView) -> String {
    let next = d
        .next_check_at
        .map(|at| format!(" Next check: {}.", datetime(at)))
        .unwrap_or_default();
    match d.status {
        Status::Pending => format!(
            "Waiting for the TXT record. Portal checks automatically until {}.{next}",
            datetime(d.expires_at)
        ),
        Status::Verified if d.method.as_deref() == Some(METHOD_ADMIN) => format!(
            "Verified by the application on {}.",
            d.verified_at.map(datetime).unwrap_or_default()
        ),
        Status::Verified => {
            let gone = d
                .missing_since
                .map(|at| {
                    format!(
                        " The record has been missing since {}; publish it again or the domain becomes unverified after three days.",
                        datetime(at)
                    )
                })
                .unwrap_or_default();
            format!(
                "Verified by DNS on {}. Keep the record published: Portal re-checks it daily.{gone}{next}",
                d.verified_at.map(datetime).unwrap_or_default()
            )
        }
        Status::Failed => format!(
            "Verification failed (the last answer is below). Publish the record and use Check now, until {}.",
            datetime(crate::domains::schedule::token_expiry(d.expires_at))
        ),
        Status::Expired => {
            "This verification expired. Delete the domain and add it again to get a new record."
                .to_string()
        }
        Status::Unverified => format!(
            "No longer verified: the record was gone for three days. Publish it again; Portal checks until {}.{next}",
            datetime(d.expires_at)
        ),
    }
}

/// One domain: its name and status, the record to publish with copy buttons, the last check,
/// and (for those who may change settings) Check now and Delete.
pub fn domain_row(d: &DomainView, viewer: PermissionSet) -> Markup {
    let name_id = format!("record-name-{}", d.id);
    let value_id = format!("record-value-{}", d.id);
    html! {
        li.domain id=(domain_dom_id(&d.id)) data-status=(d.status.as_str()) {
            div.domain-head {
                strong.domain-name { (d.domain) }
                @if let Some(unicode) = &d.unicode { " " span.muted { "(" (unicode) ")" } }
                " "
                span class=(format!("badge {}", d.status.as_str())) { (d.status.label()) }
                @if d.include_subdomains { " " span.badge { "Includes subdomains" } }
            }
            p.standing { (standing(d)) }
            @if d.status != Status::Expired {
                dl.txt-record {
                    dt { "Type" } dd { code { "TXT" } }
                    dt { "Name" }
                    dd {
                        code id=(name_id) { (d.record_name) }
                        " " button.copy type="button" data-copy=(name_id) hidden { "Copy name" }
                    }
                    dt { "Value" }
                    dd {
                        code id=(value_id) { (d.record_value) }
                        " " button.copy type="button" data-copy=(value_id) hidden { "Copy value" }
                    }
                }
            }
            p.last-check {
                @match (d.last_checked_at, &d.last_result) {
                    (Some(at), Some(result)) => {
                        "Last check: " time { (datetime(at)) } ": " span.answer { (result) }
                    }
                    (Some(at), None) => { "Last check: " time { (datetime(at)) } }
                    _ => { "Not checked yet." }
                }
            }
            @if viewer.contains(Permission::OrgSettingsManage) {
                div.actions {
                    @if d.status != Status::Expired {
                        button type="submit" form="domain-actions"
                            formaction=(format!("/ui/organization/domains/{}/check", d.id)) { "Check now" }
                        " "
                    }
                    button.danger type="submit" form="domain-actions"
                        formaction=(format!("/ui/organization/domains/{}/delete", d.id)) {
                        "Delete " span.skip { (d.domain) }
                    }
                }
            }
        }
    }
}

/// What the add form shows again after an error.
#[derive(Debug, Default, Clone)]
pub struct AddDomainForm {
    pub domain: String,
    pub include_subdomains: bool,
    pub error: Option<String>,
}

/// A message above the list: `("ok" | "error" | "info", text)`.
pub type Notice = (&'static str, String);

pub struct DomainsPage<'a> {
    pub rows: &'a [DomainView],
    pub csrf: &'a str,
    pub viewer: PermissionSet,
    pub form: &'a AddDomainForm,
    pub join_policy: DomainJoinPolicy,
    pub notice: Option<&'a Notice>,
}

pub fn page(v: &DomainsPage<'_>) -> Markup {
    let manage = v.viewer.contains(Permission::OrgSettingsManage);
    html! {
        h1 { "Domains" }
        p.live-status data-live-status aria-live="polite" { "" }
        p.muted {
            "Prove that your organization owns its email domains. Verified domains send your people to your organization when they sign in, and can let them join when they sign up."
        }
        @if let Some((kind, text)) = v.notice {
            div class=(format!("alert {kind}")) role=(if *kind == "error" { "alert" } else { "status" }) { (text) }
        }
        details.instructions open[v.rows.is_empty()] {
            summary { "How to verify a domain" }
            ol {
                li { "Add the domain below. Portal shows a TXT record for it." }
                li {
                    "At your DNS provider, create a TXT record with that name and value. Some providers want only "
                    code { "_portal-challenge" } " as the name and add the domain themselves."
                }
                li {
                    "Wait a few minutes. Portal checks on its own after 1, 5 and 15 minutes, then every hour for seven days; "
                    "use " strong { "Check now" } " once the record is published."
                }
                li { "Leave the record in place: Portal re-checks verified domains every day." }
            }
        }
        @if manage {
            form.panel.add-domain method="post" action="/ui/organization/domains" novalidate {
                (csrf_field(v.csrf))
                div.field {
                    label for="domain" { "Domain" }
                    input id="domain" name="domain" type="text" value=(v.form.domain)
                        placeholder="example.com" autocomplete="off" spellcheck="false"
                        aria-invalid=[v.form.error.as_ref().map(|_| "true")]
                        aria-describedby=[v.form.error.as_ref().map(|_| "domain-error")];
                    @if let Some(error) = &v.form.error {
                        p.field-error id="domain-error" { (error) }
                    }
                }
                div.field {
                    label.check {
                        input type="checkbox" name="include_subdomains" value="on" checked[v.form.include_subdomains];
                        " Also cover its subdomains (such as eu.example.com)"
                    }
                }
                button.primary type="submit" { "Add domain" }
            }
            form id="domain-actions" method="post" action="/ui/organization/domains" hidden {
                (csrf_field(v.csrf))
            }
        }
        section.domains aria-label="Domains" {
            ul.domain-list data-live-list="domains" {
                @for row in v.rows { (domain_row(row, v.viewer)) }
            }
        }
        p.muted data-live-empty hidden[!v.rows.is_empty()] { "No domains yet." }
        h2 { "Joining by domain" }
        @if manage {
            form.toolbar method="post" action="/ui/organization/domains/join-policy" {
                (csrf_field(v.csrf))
                div.field {
                    label for="policy" { "When someone signs up with an address on a verified domain" }
                    select id="policy" name="policy" {
                        @for policy in DomainJoinPolicy::ALL {
                            option value=(policy.as_str()) selected[policy == v.join_policy] { (policy.label()) }
                        }
                    }
                }
                button type="submit" { "Save" }
            }
        } @else {
            p { (v.join_policy.label()) }
        }
        script src=(format!("/static/domains.js?v={}", env!("CARGO_PKG_VERSION"))) defer {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: Status) -> DomainView {
        DomainView {
            id: "dom_1".into(),
            domain: "xn--bcher-kva.example".into(),
            unicode: unicode_of("xn--bcher-kva.example"),
            status,
            method: None,
            include_subdomains: false,
            record_name: record_name("xn--bcher-kva.example"),
            record_value: record_value("tok"),
            last_checked_at: Some(0),
            last_result: Some("no TXT record found".into()),
            next_check_at: Some(60_000),
            verified_at: None,
            missing_since: None,
            expires_at: 7 * 86_400_000,
        }
    }

    #[test]
    fn a_row_shows_the_record_the_answer_and_actions_only_to_managers() {
        let manage: PermissionSet = [Permission::OrgSettingsManage].into_iter().collect();
        let html = domain_row(&view(Status::Pending), manage).into_string();
        assert!(html.contains("_portal-challenge.xn--bcher-kva.example"));
        assert!(html.contains("portal-verification=tok"));
        assert!(html.contains("bücher.example"));
        assert!(html.contains("no TXT record found"));
        assert!(html.contains("Check now") && html.contains("form=\"domain-actions\""));
        assert!(!html.contains("csrf"), "a row carries no per-viewer secret");
        let read_only = domain_row(&view(Status::Pending), PermissionSet::default()).into_string();
        assert!(!read_only.contains("Check now") && !read_only.contains("Delete"));
        let expired = domain_row(&view(Status::Expired), manage).into_string();
        assert!(!expired.contains("Check now") && expired.contains("expired"));
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(datetime(0), "1 Jan 1970, 00:00 UTC");
    }
}
