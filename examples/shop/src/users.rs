//! The `users` module: sign-up over HTTP (`POST /users` sends `user.signed_up`,
//! `POST /users/{id}/verify` sends `user.email_verified`) and the onboarding function: a
//! welcome email, then up to three days (`[users] verification_timeout`) waiting for the
//! address to be verified, then either a reminder or marking the user verified.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use framework::{Config, ConfigSection, Environment, Module, SectionProblems, injectable};
use inngest_module::{
    self as inngest, Ctx, Event, EventPayload, InngestService, SendError, WaitFor,
};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::api::{ApiError, check_duration, new_id};

/// `[users]`: how onboarding behaves.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct UsersConfig {
    /// How long onboarding waits for `user.email_verified` before sending a reminder
    /// (default `"3d"`; the test config shortens it so the timeout path runs in seconds).
    pub verification_timeout: String,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self {
            verification_timeout: "3d".into(),
        }
    }
}

impl ConfigSection for UsersConfig {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        check_duration(problems, "verification_timeout", &self.verification_timeout);
    }
}

/// `user.signed_up`: someone created an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "user.signed_up")]
#[serde(rename_all = "camelCase")]
pub struct UserSignedUp {
    /// The new user's id (`usr-…`).
    pub user_id: String,
    /// Where to send the welcome email.
    pub email: String,
}

/// `user.email_verified`: the user clicked the link in the welcome email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "user.email_verified")]
#[serde(rename_all = "camelCase")]
pub struct EmailVerified {
    /// The user.
    pub user_id: String,
}

/// What the mail provider answered: the id of the queued message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailSent {
    /// The message id (`mail-<ULID>`, unique across processes).
    pub message_id: String,
    /// The recipient.
    pub to: String,
    /// The template used.
    pub template: String,
}

/// A pretend mail provider that keeps an in-memory outbox.
///
/// **Per process**: each replica's outbox holds the emails of the steps it ran (a real
/// provider keeps them; its message ids are unique, like the ULIDs here).
#[derive(Debug, Default)]
pub struct Mailer {
    outbox: Mutex<Vec<MailSent>>,
}

#[injectable]
impl Mailer {
    fn new() -> Self {
        Self::default()
    }

    /// Queues an email built from `template`.
    pub fn send(&self, to: &str, template: &str) -> MailSent {
        let mut outbox = self
            .outbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mail = MailSent {
            message_id: new_id("mail"),
            to: to.to_string(),
            template: template.to_string(),
        };
        outbox.push(mail.clone());
        tracing::info!(to, template, "email queued");
        mail
    }

    /// Every email queued so far.
    pub fn outbox(&self) -> Vec<MailSent> {
        self.outbox
            .lock()
            .map(|outbox| outbox.clone())
            .unwrap_or_default()
    }
}

/// Which users verified their address.
///
/// **Per process**: a replica knows only the users whose onboarding step it ran, and
/// forgets them on restart; a real app keeps this in its database.
#[derive(Debug, Default)]
pub struct UserDirectory {
    verified: Mutex<HashMap<String, bool>>,
}

#[injectable]
impl UserDirectory {
    fn new() -> Self {
        Self::default()
    }

    /// Marks the user verified; `false` if they already were.
    pub fn mark_verified(&self, user_id: &str) -> bool {
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        verified.insert(user_id.to_string(), true) != Some(true)
    }

    /// Whether the user verified their address.
    pub fn is_verified(&self, user_id: &str) -> bool {
        self.verified
            .lock()
            .map(|verified| verified.get(user_id).copied().unwrap_or(false))
            .unwrap_or(false)
    }
}

/// How onboarding ended (the function's result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OnboardingOutcome {
    /// The user verified their address within three days.
    Verified {
        /// The user.
        #[serde(rename = "userId")]
        user_id: String,
    },
    /// They did not: a reminder went out.
    Reminded {
        /// The user.
        #[serde(rename = "userId")]
        user_id: String,
        /// The reminder's message id.
        #[serde(rename = "messageId")]
        message_id: String,
    },
}

/// The onboarding function.
pub struct Onboarding {
    mailer: Arc<Mailer>,
    directory: Arc<UserDirectory>,
    config: Config<UsersConfig>,
}

#[injectable]
impl Onboarding {
    fn new(
        mailer: Arc<Mailer>,
        directory: Arc<UserDirectory>,
        config: Config<UsersConfig>,
    ) -> Self {
        Self {
            mailer,
            directory,
            config,
        }
    }

    /// Welcome email → wait up to `verification_timeout` (3 days) for `user.email_verified`
    /// of the same user → mark verified, or send a reminder when the wait timed out.
    #[inngest::function(id = "user-onboarding", event = UserSignedUp, retries = 5)]
    async fn onboard(&self, ctx: Ctx<UserSignedUp>) -> inngest::Result<OnboardingOutcome> {
        let user = &ctx.event.data;
        let mailer = &self.mailer;
        ctx.step
            .run("send-welcome-email", || async move {
                Ok(mailer.send(&user.email, "welcome"))
            })
            .await?;

        let wait = WaitFor::<EmailVerified>::new()
            .matching("async.data.userId == event.data.userId")
            .timeout(self.config.verification_timeout.as_str());
        let verified = ctx.step.wait_for_event("wait-email-verified", wait).await?;

        match verified {
            None => {
                let reminder = ctx
                    .step
                    .run("send-reminder", || async move {
                        Ok(mailer.send(&user.email, "verify-your-email"))
                    })
                    .await?;
                Ok(OnboardingOutcome::Reminded {
                    user_id: user.user_id.clone(),
                    message_id: reminder.message_id,
                })
            }
            Some(event) => {
                let directory = &self.directory;
                let user_id = &event.data.user_id;
                ctx.step
                    .run("mark-verified", || async move {
                        Ok(directory.mark_verified(user_id))
                    })
                    .await?;
                Ok(OnboardingOutcome::Verified {
                    user_id: user_id.clone(),
                })
            }
        }
    }
}

/// `POST /users` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    /// The address to onboard.
    pub email: String,
}

/// `POST /users` answer (202): the user id and the id of the `user.signed_up` event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignupAccepted {
    /// The new user's id.
    pub user_id: String,
    /// The ids Inngest gave the sent events.
    pub event_ids: Vec<String>,
}

/// `POST /users/{id}/verify` answer (202): the id of the `user.email_verified` event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationAccepted {
    /// The user.
    pub user_id: String,
    /// The ids Inngest gave the sent events.
    pub event_ids: Vec<String>,
}

/// Signs users up: sends `user.signed_up`, which starts onboarding.
pub struct Signups {
    inngest: Arc<InngestService>,
}

#[injectable]
impl Signups {
    fn new(inngest: Arc<InngestService>) -> Self {
        Self { inngest }
    }

    /// Creates the user and sends `user.signed_up` (its event id makes a retried send
    /// idempotent).
    pub async fn sign_up(&self, email: String) -> Result<SignupAccepted, SendError> {
        let user_id = new_id("usr");
        let event = Event::from(UserSignedUp {
            user_id: user_id.clone(),
            email,
        })
        .with_id(format!("signup-{user_id}"));
        let event_ids = self.inngest.send(event).await?;
        Ok(SignupAccepted { user_id, event_ids })
    }

    /// The user clicked the link in the welcome email: sends `user.email_verified`, which
    /// the user's onboarding run is waiting for.
    pub async fn verify(&self, user_id: String) -> Result<VerificationAccepted, SendError> {
        let event = Event::from(EmailVerified {
            user_id: user_id.clone(),
        })
        .with_id(format!("verified-{user_id}"));
        let event_ids = self.inngest.send(event).await?;
        Ok(VerificationAccepted { user_id, event_ids })
    }
}

async fn create_user(
    State(signups): State<Arc<Signups>>,
    Json(user): Json<NewUser>,
) -> Result<(StatusCode, Json<SignupAccepted>), ApiError> {
    let email = user.email.trim().to_string();
    if !email.contains('@') {
        return Err(ApiError::Invalid(format!(
            "`email` = `{email}` is not an email address"
        )));
    }
    let accepted = signups.sign_up(email).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

async fn verify_user(
    State(signups): State<Arc<Signups>>,
    Path(user_id): Path<String>,
) -> Result<(StatusCode, Json<VerificationAccepted>), ApiError> {
    if !user_id.starts_with("usr-") {
        return Err(ApiError::Invalid(format!(
            "`{user_id}` is not a user id (`usr-…`)"
        )));
    }
    let accepted = signups.verify(user_id).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The module: exports the mailer and the directory, serves `POST /users` and
/// `POST /users/{id}/verify`.
pub fn module() -> Module {
    Module::new("users")
        .config::<UsersConfig>("users")
        .provide::<Mailer>()
        .provide::<UserDirectory>()
        .provide::<Onboarding>()
        .provide::<Signups>()
        .export::<Mailer>()
        .export::<UserDirectory>()
        .routes(|signups: Arc<Signups>| {
            Router::new()
                .route("/users", post(create_user))
                .route("/users/{id}/verify", post(verify_user))
                .with_state(signups)
        })
}
