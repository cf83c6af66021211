//! The `payments` module: a pretend payment gateway (exported: `orders` charges through it)
//! and the payment saga: authorize, capture, and refund as compensation when the capture
//! fails for good.
//!
//! The gateway's ids (`ch-…`, `auth-…`, `cap-…`, `ref-…`) are ULIDs, unique across processes:
//! with N replicas, any of them may run a step, and two replicas never hand out the same id.

use std::sync::{Arc, Mutex};

use framework::{Module, injectable};
use inngest_module::{self as inngest, Ctx, Error};
use serde::{Deserialize, Serialize};

use crate::api::new_id;

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
///
/// **Per process.** The ledger is this replica's memory: with N replicas each holds the
/// operations of the steps it happened to run, and it is gone on restart. A real gateway
/// keeps the records (and honours an idempotency key, e.g. the order id, so a retried charge
/// step never charges twice); its ids are unique, like the ULIDs here.
#[derive(Debug, Default)]
pub struct PaymentGateway {
    ledger: Mutex<Vec<String>>,
}

#[injectable]
impl PaymentGateway {
    fn new() -> Self {
        Self::default()
    }

    /// Appends `entry` to the ledger and logs it with the id the operation was given.
    fn record(&self, entry: String, id: Option<&str>) {
        let mut ledger = self
            .ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tracing::info!(%entry, id, "payment gateway");
        ledger.push(entry);
    }

    /// Charges `amount_cents` at once. A zero amount is refused for good.
    pub fn charge(&self, reference: &str, amount_cents: u64) -> Result<Charge, Error> {
        if amount_cents == 0 {
            return Err(Error::non_retriable(format!(
                "nothing to charge for {reference}"
            )));
        }
        let charge_id = new_id("ch");
        self.record(
            format!("charge {reference} {amount_cents}"),
            Some(&charge_id),
        );
        Ok(Charge {
            charge_id,
            amount_cents,
        })
    }

    /// Holds `amount_cents` on the card.
    pub fn authorize(&self, payment_id: &str, amount_cents: u64) -> Authorization {
        let authorization_id = new_id("auth");
        self.record(
            format!("authorize {payment_id} {amount_cents}"),
            Some(&authorization_id),
        );
        Authorization {
            authorization_id,
            amount_cents,
        }
    }

    /// Takes the held money.
    pub fn capture(&self, authorization: &Authorization) -> Capture {
        let capture_id = new_id("cap");
        self.record(
            format!("capture {}", authorization.authorization_id),
            Some(&capture_id),
        );
        Capture { capture_id }
    }

    /// A capture that got no answer in time: recorded, and a retriable error.
    pub fn capture_timed_out(&self, authorization: &Authorization) -> Error {
        self.record(
            format!("capture {} timed out", authorization.authorization_id),
            None,
        );
        Error::retriable("the payment gateway did not answer in time")
    }

    /// Gives the money back (releases the hold).
    pub fn refund(&self, authorization: &Authorization) -> Refund {
        let refund_id = new_id("ref");
        self.record(
            format!("refund {}", authorization.authorization_id),
            Some(&refund_id),
        );
        Refund { refund_id }
    }

    /// Every operation this process recorded so far, oldest first.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_gateways_like_two_replicas_never_hand_out_the_same_id() {
        let (first, second) = (PaymentGateway::default(), PaymentGateway::default());
        let a = first.charge("ord-1", 100).expect("a charge");
        let b = second.charge("ord-2", 100).expect("a charge");
        assert_ne!(
            a.charge_id, b.charge_id,
            "a per-process counter gave ch-1 twice"
        );
        let ulid = a.charge_id.strip_prefix("ch-").expect("the prefix");
        assert!(ulid::Ulid::from_string(ulid).is_ok(), "{}", a.charge_id);
        let (x, y) = (first.authorize("pay-1", 5), second.authorize("pay-2", 5));
        assert_ne!(x.authorization_id, y.authorization_id);
        assert_ne!(first.capture(&x).capture_id, second.capture(&y).capture_id);
        assert_ne!(first.refund(&x).refund_id, second.refund(&y).refund_id);
    }
}
