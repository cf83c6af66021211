//! The `payments` module: a pretend payment gateway (exported: `orders` charges through it)
//! and the payment saga: authorize, capture, and refund as compensation when the capture
//! fails for good.

use std::sync::{Arc, Mutex};

use framework::{Module, injectable};
use inngest_module::{self as inngest, Ctx, Error};
use serde::{Deserialize, Serialize};

/// `payment.requested`: take a payment in two phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequested {
    /// The payment's id (`pay-…`).
    pub payment_id: String,
    /// The amount, in cents.
    pub amount_cents: u64,
    /// Test flag: the card issuer declines the capture (a failure that is not retried).
    #[serde(default)]
    pub decline_capture: bool,
    /// Test flag: the gateway times out on this many capture attempts before it answers (a
    /// retriable error: the step is retried, up to the saga's 2 retries).
    #[serde(default)]
    pub capture_timeouts: u32,
}

/// A one-phase charge (what order processing uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    /// The gateway's charge id.
    pub charge_id: String,
    /// What was charged, in cents.
    pub amount_cents: u64,
}

/// Money held on the card, not yet taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// The gateway's authorization id.
    pub authorization_id: String,
    /// The amount held, in cents.
    pub amount_cents: u64,
}

/// Money taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capture {
    /// The gateway's capture id.
    pub capture_id: String,
}

/// Money given back (or a hold released).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// The gateway's refund id.
    pub refund_id: String,
}

/// A pretend payment gateway that writes every operation to an in-memory ledger.
#[derive(Debug, Default)]
pub struct PaymentGateway {
    ledger: Mutex<Vec<String>>,
}

#[injectable]
impl PaymentGateway {
    fn new() -> Self {
        Self::default()
    }

    fn record(&self, entry: String) -> usize {
        let mut ledger = self
            .ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tracing::info!(%entry, "payment gateway");
        ledger.push(entry);
        ledger.len()
    }

    /// Charges `amount_cents` at once. A zero amount is refused for good.
    pub fn charge(&self, reference: &str, amount_cents: u64) -> Result<Charge, Error> {
        if amount_cents == 0 {
            return Err(Error::non_retriable(format!(
                "nothing to charge for {reference}"
            )));
        }
        let n = self.record(format!("charge {reference} {amount_cents}"));
        Ok(Charge {
            charge_id: format!("ch-{n}"),
            amount_cents,
        })
    }

    /// Holds `amount_cents` on the card.
    pub fn authorize(&self, payment_id: &str, amount_cents: u64) -> Authorization {
        let n = self.record(format!("authorize {payment_id} {amount_cents}"));
        Authorization {
            authorization_id: format!("auth-{n}"),
            amount_cents,
        }
    }

    /// Takes the held money.
    pub fn capture(&self, authorization: &Authorization) -> Capture {
        let n = self.record(format!("capture {}", authorization.authorization_id));
        Capture {
            capture_id: format!("cap-{n}"),
        }
    }

    /// A capture that got no answer in time: recorded, and a retriable error.
    pub fn capture_timed_out(&self, authorization: &Authorization) -> Error {
        self.record(format!(
            "capture {} timed out",
            authorization.authorization_id
        ));
        Error::retriable("the payment gateway did not answer in time")
    }

    /// Gives the money back (releases the hold).
    pub fn refund(&self, authorization: &Authorization) -> Refund {
        let n = self.record(format!("refund {}", authorization.authorization_id));
        Refund {
            refund_id: format!("ref-{n}"),
        }
    }

    /// Every operation so far, oldest first.
    pub fn ledger(&self) -> Vec<String> {
        self.ledger
            .lock()
            .map(|ledger| ledger.clone())
            .unwrap_or_default()
    }
}

/// How a payment ended (the saga's result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The money was taken.
    Captured {
        /// The payment.
        #[serde(rename = "paymentId")]
        payment_id: String,
        /// The capture id.
        #[serde(rename = "captureId")]
        capture_id: String,
    },
    /// The capture failed for good; the authorization was refunded.
    Refunded {
        /// The payment.
        #[serde(rename = "paymentId")]
        payment_id: String,
        /// The refund id.
        #[serde(rename = "refundId")]
        refund_id: String,
        /// Why the capture failed.
        reason: String,
    },
}

/// The payment saga.
pub struct PaymentSaga {
    gateway: Arc<PaymentGateway>,
}

#[injectable]
impl PaymentSaga {
    fn new(gateway: Arc<PaymentGateway>) -> Self {
        Self { gateway }
    }

    /// authorize → capture; a capture that times out is retried with backoff. When the
    /// capture step fails for good (a non-retriable error, or retries exhausted), the replay
    /// hands its error back as `Error::Step`, and the saga compensates with a refund instead
    /// of failing the run.
    #[inngest::function(id = "payment-saga", event = "payment.requested", retries = 2)]
    async fn take_payment(&self, ctx: Ctx<PaymentRequested>) -> inngest::Result<PaymentStatus> {
        let payment = &ctx.event.data;
        let gateway = &self.gateway;
        let authorization = ctx
            .step
            .run("authorize", || async move {
                Ok(gateway.authorize(&payment.payment_id, payment.amount_cents))
            })
            .await?;

        let held = &authorization;
        let attempt = ctx.attempt;
        let captured = ctx
            .step
            .run("capture", || async move {
                if payment.decline_capture {
                    return Err(Error::non_retriable("the card issuer declined the capture"));
                }
                if attempt < payment.capture_timeouts {
                    return Err(gateway.capture_timed_out(held));
                }
                Ok(gateway.capture(held))
            })
            .await;

        match captured {
            Ok(capture) => Ok(PaymentStatus::Captured {
                payment_id: payment.payment_id.clone(),
                capture_id: capture.capture_id,
            }),
            Err(Error::Step(failure)) => {
                tracing::warn!(payment = %payment.payment_id, %failure, "capture failed; refunding");
                let refund = ctx
                    .step
                    .run("refund", || async move { Ok(gateway.refund(held)) })
                    .await?;
                Ok(PaymentStatus::Refunded {
                    payment_id: payment.payment_id.clone(),
                    refund_id: refund.refund_id,
                    reason: failure.message,
                })
            }
            Err(other) => Err(other),
        }
    }
}

/// The module: exports the gateway.
pub fn module() -> Module {
    Module::new("payments")
        .provide::<PaymentGateway>()
        .provide::<PaymentSaga>()
        .export::<PaymentGateway>()
}
