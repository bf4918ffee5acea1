//! One error type per surface, each turned into a response in exactly one place:
//! [`ApiError`] (management API JSON), [`PageError`] (hosted HTML screens), [`OAuthError`] (the token
//! endpoint's RFC 6749 §5.2 JSON).

use crate::actors::org::OrgError;
use crate::views::{self, Brand};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

fn log_internal(err: &anyhow::Error) {
    tracing::error!(error = format!("{err:#}"), "request failed");
}

/// Management API errors: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation {
        field: Option<&'static str>,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// What was asked for existed once but is no longer kept (events past retention).
    #[error("{0}")]
    Gone(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Validation {
            field: None,
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } => "invalid_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Gone(_) => "gone",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

#[derive(Serialize)]
struct ApiErrorBody<'a> {
    error: ApiErrorDetail<'a>,
}

#[derive(Serialize)]
struct ApiErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(err) = self {
            log_internal(err);
        }
        let field = match self {
            ApiError::Validation { field, .. } => *field,
            _ => None,
        };
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized(_)) {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"portal\""));
        }
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .json(ApiErrorBody {
                error: ApiErrorDetail {
                    code: self.code(),
                    message: self.to_string(),
                    field,
                },
            })
    }
}

impl From<OrgError> for ApiError {
    fn from(err: OrgError) -> Self {
        match err {
            OrgError::NotFound => ApiError::NotFound("organization"),
            OrgError::DomainNotFound => ApiError::NotFound("domain"),
            OrgError::MemberNotFound => ApiError::NotFound("member"),
            OrgError::LastAdmin => ApiError::Conflict(
                "An organization must keep at least one active admin: make another member an admin first.".into(),
            ),
            OrgError::InvalidDomain(message) => ApiError::field("domain", message),
            OrgError::Conflict(message)
            | OrgError::SeatLimit(message)
            | OrgError::InviteUnusable(message) => ApiError::Conflict(message),
            OrgError::InviteNotFound => ApiError::NotFound("invite"),
            OrgError::UnknownRole(role) => {
                ApiError::field("role", format!("Role \"{role}\" does not exist."))
            }
            OrgError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::manage::Refused> for ApiError {
    fn from(err: crate::manage::Refused) -> Self {
        use crate::manage::Refused;
        match err {
            Refused::NotFound(what) => ApiError::NotFound(what),
            Refused::Conflict(message) => ApiError::Conflict(message),
            Refused::Invalid { field, message } => ApiError::field(field, message),
            Refused::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(err: actix::MailboxError) -> Self {
        ApiError::Internal(anyhow::anyhow!("actor unavailable: {err}"))
    }
}

/// Errors of the hosted HTML screens: a redirect to sign in, or a page that says what went wrong and
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign-in required")]
    LoginRequired { location: String },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<actix::MailboxError> for PageError {
    fn from(err: actix::MailboxError) -> Self {
        PageError::Internal(anyhow::anyhow!("actor unavailable: {err}"))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let brand = Brand {
            name: "Portal".into(),
            ..Brand::default()
        };
        let (title, message, next): (&str, String, Option<(&str, &str)>) = match self {
            PageError::LoginRequired { location } => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location.as_str()))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish();
            }
            PageError::Forbidden(why) => ("You don't have access to this page", why.to_string(), Some(("/ui/", "Go to your widgets"))),
            PageError::NotFound => (
                "Page not found",
                "There is nothing at this address. Check the link, or start again from your widgets.".into(),
                Some(("/ui/", "Go to your widgets")),
            ),
            PageError::BadRequest(why) => ("That request could not be handled", why.clone(), None),
            PageError::Internal(err) => {
                log_internal(err);
                (
                    "Something went wrong",
                    "Portal could not finish this request. Please try again in a moment.".into(),
                    None,
                )
            }
        };
        let status = self.status_code();
        HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(
                views::errors::error_page(&brand, status.as_u16(), title, &message, next)
                    .into_string(),
            )
    }
}

/// Token endpoint errors (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    /// Set for errors that are Portal's fault; logged, never shown.
    pub internal: Option<String>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            internal: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }
}

impl From<anyhow::Error> for OAuthError {
    fn from(err: anyhow::Error) -> Self {
        Self {
            error: "server_error",
            description: "Portal could not complete the request.".into(),
            internal: Some(format!("{err:#}")),
        }
    }
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(internal) = &self.internal {
            tracing::error!(error = internal.as_str(), "token request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        if self.error == "invalid_client" {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"portal\""));
        }
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(OAuthErrorBody {
                error: self.error,
                error_description: &self.description,
            })
    }
}
