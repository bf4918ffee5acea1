//! Mailer: owns Portal's outgoing mail transport (lettre).
//!
//! With `PORTAL_SMTP_URL` set it holds an SMTP transport (rustls for `smtps://` and
//! `?tls=required`), one connection per message: lettre's connection pool spawns tasks from its
//! destructors, which panic when the actor is dropped as the runtime shuts down, and sign-in mail is
//! too rare to need a pool; without it, a file transport that writes each message as an `.eml` file under
//! `<data_dir>/mail/` and logs the message's link, so a demo works with no mail server. It turns a
//! [`SendMail`] into one delivery attempt and answers with the outcome. It never decides what to say
//! (views::email does) nor whom to tell (the auth flows and, later, invites do), and it never logs a
//! message body or a code.

use crate::config::Settings;
use crate::domain::EmailAddress;
use actix::prelude::*;
use anyhow::Context as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor,
};
use std::path::PathBuf;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    /// The mailer the settings describe.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .mail_from
            .parse()
            .with_context(|| format!("mail_from {:?} is not a mailbox", settings.mail_from))?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("PORTAL_SMTP_URL is not a usable SMTP URL")?
                    .build(),
            ),
            None => {
                let dir = settings.data_dir.join("mail");
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!("failed to create the mail directory {}", dir.display())
                })?;
                Transport::Files {
                    transport: AsyncFileTransport::<Tokio1Executor>::new(&dir),
                    dir,
                }
            }
        };
        Ok(Self { transport, from })
    }

    /// Where mail goes, for the start-up log.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP".into(),
            Transport::Files { dir, .. } => format!(".eml files in {}", dir.display()),
        }
    }
}

impl Actor for Mailer {
    type Context = Context<Self>;
}

/// One message to one recipient, with a plain-text and an HTML body.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), MailError>")]
pub struct SendMail {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The message's one action link, logged when mail goes to files so an offline demo can follow it.
    pub link: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the recipient address cannot be used for mail: {0}")]
    BadAddress(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the mail server refused or failed the delivery: {0}")]
    Delivery(String),
}

impl SendMail {
    fn build(&self, from: &Mailbox) -> Result<Mail, MailError> {
        let to: Mailbox = self
            .to
            .as_str()
            .parse()
            .map_err(|e| MailError::BadAddress(format!("{e}")))?;
        Mail::builder()
            .from(from.clone())
            .to(to)
            .subject(self.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

impl Handler<SendMail> for Mailer {
    type Result = ResponseFuture<Result<(), MailError>>;

    fn handle(&mut self, msg: SendMail, _ctx: &mut Self::Context) -> Self::Result {
        let mail = msg.build(&self.from);
        // Subjects may carry a code, so logs name only the recipient's domain.
        let domain = msg.to.domain().as_str().to_string();
        match &self.transport {
            Transport::Smtp(smtp) => {
                let smtp = smtp.clone();
                Box::pin(async move {
                    let result = match mail {
                        Ok(mail) => smtp
                            .send(mail)
                            .await
                            .map(|_| ())
                            .map_err(|e| MailError::Delivery(e.to_string())),
                        Err(e) => Err(e),
                    };
                    if let Err(err) = &result {
                        tracing::warn!(to_domain = domain, error = %err, "mail was not sent");
                    }
                    result
                })
            }
            Transport::Files { transport, dir } => {
                let transport = transport.clone();
                let dir = dir.clone();
                Box::pin(async move {
                    let id = match mail {
                        Ok(mail) => transport
                            .send(mail)
                            .await
                            .map_err(|e| MailError::Delivery(e.to_string()))?,
                        Err(e) => return Err(e),
                    };
                    let path = dir.join(format!("{id}.eml"));
                    // No mail server: say where the message is and what it links to.
                    tracing::info!(
                        to_domain = domain,
                        file = %path.display(),
                        link = msg.link.as_deref().unwrap_or("-"),
                        "mail written to a file (no SMTP server configured)"
                    );
                    Ok(())
                })
            }
        }
    }
}
