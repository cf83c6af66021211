//! The `orders` module: `POST /orders` sends `order.created`, and the order-processing
//! function reserves stock, cools off for a minute (the window in which
//! `POST /orders/{id}/cancel` cancels the run), charges the customer (through `payments`),
//! fans out `order.confirmed` + `email.requested`, and returns a receipt.
//!
//! Two handlers clean up: `on_failure` releases the stock of an order that failed for good
//! and tells the customer, and `on_cancel` releases the stock of a cancelled one.
//!
//! Every event is a payload type tied to its name (`#[derive(EventPayload)]`), so names are
//! written once, here, and never at a trigger, a send or a wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use framework::{Config, ConfigSection, Environment, Module, SectionProblems, injectable};
use inngest_module::{
    self as inngest, Ctx, Error, Event, EventPayload, FunctionCancelled, FunctionFailed,
    InngestService, SendError,
};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::api::{ApiError, check_duration, new_id};
use crate::payments::{self, Charge, PaymentGateway};

/// `[orders]`: how orders are processed.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersConfig {
    /// How long an order waits before it is charged; the customer may cancel meanwhile
    /// (default `"1m"`).
    pub cool_off: String,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        Self {
            cool_off: "1m".into(),
        }
    }
}

impl ConfigSection for OrdersConfig {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        check_duration(problems, "cool_off", &self.cool_off);
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineItem {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Price of one, in cents.
    pub unit_price_cents: u64,
}

/// `order.created`: a customer placed an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "order.created")]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    /// The order's id (`ord-…`).
    pub order_id: String,
    /// The customer (the concurrency key: at most 10 of their orders in progress).
    pub customer_id: String,
    /// Where confirmations go.
    pub email: String,
    /// What was ordered.
    pub items: Vec<LineItem>,
}

impl OrderCreated {
    /// The order's total, in cents.
    pub fn total_cents(&self) -> u64 {
        self.items
            .iter()
            .map(|item| u64::from(item.quantity) * item.unit_price_cents)
            .sum()
    }
}

/// Stock set aside for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// The reservation's id.
    pub reservation_id: String,
    /// Units reserved.
    pub units: u32,
}

/// `order.cancelled`: the customer cancelled the order (during the cool-off it stops the
/// order's run before anything is charged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "order.cancelled")]
#[serde(rename_all = "camelCase")]
pub struct OrderCancelled {
    /// The order.
    pub order_id: String,
}

/// `order.confirmed`: the order is paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "order.confirmed")]
#[serde(rename_all = "camelCase")]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// The charge that paid it.
    pub charge_id: String,
}

/// `email.requested`: some mailer should send this template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "email.requested")]
#[serde(rename_all = "camelCase")]
pub struct EmailRequested {
    /// The recipient.
    pub to: String,
    /// The template.
    pub template: String,
    /// The order it is about.
    pub order_id: String,
}

/// The order-processing function's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The order.
    pub order_id: String,
    /// The stock reservation.
    pub reservation_id: String,
    /// The charge.
    pub charge_id: String,
    /// What was charged, in cents.
    pub amount_cents: u64,
    /// Ids of the `order.confirmed` and `email.requested` events.
    pub notification_ids: Vec<String>,
}

/// Pretend stock keeping: remembers every reservation, keyed by order (`res-<order id>`).
///
/// **Per process.** The reservations live in this replica's memory. With N replicas behind
/// a load balancer, the `reserve-stock` step of an order may run on one replica and the
/// `release-stock` step of its clean-up on another: that release finds nothing, answers
/// `false` (the clean-up's `released`) and the stock stays held on the first replica until
/// it restarts; a restart forgets every reservation. Nothing in the order flow depends on
/// this map for correctness: the receipt uses the reservation memoized by the run, and a
/// release is idempotent and never fails the run, wherever it runs.
///
/// A real app keeps reservations in its database, keyed the same way, so every replica
/// sees them: reserving is an upsert (`INSERT … ON CONFLICT (reservation_id) DO NOTHING`,
/// so a retried step reserves once) and releasing a delete by key (a repeat is harmless).
#[derive(Debug, Default)]
pub struct Inventory {
    reservations: Mutex<HashMap<String, u32>>,
}

#[injectable]
impl Inventory {
    fn new() -> Self {
        Self::default()
    }

    /// Reserves the order's units under `res-<order id>`; reserving the same order again
    /// (a retried step) replaces the reservation rather than adding one. An order without
    /// units can never be reserved: that error is not retried.
    pub fn reserve(&self, order: &OrderCreated) -> Result<Reservation, Error> {
        let units: u32 = order.items.iter().map(|item| item.quantity).sum();
        if units == 0 {
            return Err(Error::non_retriable(format!(
                "order {} has no units to reserve",
                order.order_id
            )));
        }
        let reservation_id = format!("res-{}", order.order_id);
        self.reservations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(reservation_id.clone(), units);
        tracing::info!(order = %order.order_id, units, "stock reserved");
        Ok(Reservation {
            reservation_id,
            units,
        })
    }

    /// Gives the order's reserved units back; `false` if this process holds nothing for it
    /// (never reserved here, already released, or reserved by another replica). Idempotent.
    pub fn release(&self, order_id: &str) -> bool {
        let released = self
            .reservations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&format!("res-{order_id}"));
        if let Some(units) = released {
            tracing::info!(order = %order_id, units, "stock released");
        }
        released.is_some()
    }

    /// How many reservations this process holds.
    pub fn reservation_count(&self) -> usize {
        self.reservations.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// What the clean-up after a failed or cancelled order did (the handlers' result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCleanup {
    /// The order.
    pub order_id: String,
    /// Whether a stock reservation was released (by this process: with N replicas, `false`
    /// when another replica reserved the stock; see [`Inventory`]).
    pub released: bool,
    /// Why the order did not go through.
    pub reason: String,
    /// Ids of the events sent to the customer (`email.requested`), if any.
    pub notification_ids: Vec<String>,
}

/// The order-processing function and its clean-ups.
pub struct OrderProcessor {
    inventory: Arc<Inventory>,
    gateway: Arc<PaymentGateway>,
    config: Config<OrdersConfig>,
}

#[injectable]
impl OrderProcessor {
    fn new(
        inventory: Arc<Inventory>,
        gateway: Arc<PaymentGateway>,
        config: Config<OrdersConfig>,
    ) -> Self {
        Self {
            inventory,
            gateway,
            config,
        }
    }

    /// reserve-stock → cool off (`[orders] cool_off`, 1 minute) → charge → send
    /// `order.confirmed` and `email.requested` → the receipt. Each step runs once per run,
    /// however often the run is replayed; at most 10 orders of one customer are processed
    /// at once. An `order.cancelled` for the same order cancels the run (then
    /// `order_cancelled` runs); a failure for good runs `order_failed`.
    #[inngest::function(
        id = "process-order",
        name = "Process an order",
        event = OrderCreated,
        retries = 3,
        concurrency(limit = 10, key = "event.data.customerId"),
        cancel_on(
            event = OrderCancelled,
            if = "async.data.orderId == event.data.orderId"
        ),
        on_failure = "order_failed",
        on_cancel = "order_cancelled"
    )]
    async fn process_order(&self, ctx: Ctx<OrderCreated>) -> inngest::Result<Receipt> {
        let order = &ctx.event.data;
        let inventory = &self.inventory;
        let reservation: Reservation = ctx
            .step
            .run("reserve-stock", || async move { inventory.reserve(order) })
            .await?;

        ctx.step
            .sleep("cool-off", self.config.cool_off.as_str())
            .await?;

        let gateway = &self.gateway;
        let charge: Charge = ctx
            .step
            .run("charge", || async move {
                gateway.charge(&order.order_id, order.total_cents())
            })
            .await?;

        let confirmed = OrderConfirmed {
            order_id: order.order_id.clone(),
            customer_id: order.customer_id.clone(),
            charge_id: charge.charge_id.clone(),
        };
        let email = EmailRequested {
            to: order.email.clone(),
            template: "order-confirmation".into(),
            order_id: order.order_id.clone(),
        };
        // A fan-out of two kinds of events: a tuple, each typed.
        let notification_ids = ctx
            .step
            .send_event(
                "notify",
                (
                    Event::from(confirmed).with_id(format!("order-confirmed-{}", order.order_id)),
                    Event::from(email).with_id(format!("order-email-{}", order.order_id)),
                ),
            )
            .await?;

        Ok(Receipt {
            order_id: order.order_id.clone(),
            reservation_id: reservation.reservation_id,
            charge_id: charge.charge_id,
            amount_cents: charge.amount_cents,
            notification_ids,
        })
    }

    /// `process-order` failed for good (a non-retriable error, or retries exhausted):
    /// release the stock and tell the customer. Registered as `process-order-failure`.
    async fn order_failed(
        &self,
        ctx: Ctx<FunctionFailed<OrderCreated>>,
    ) -> inngest::Result<OrderCleanup> {
        let failed = &ctx.event.data;
        let order_id = failed.event.data.order_id.clone();
        let email = failed.event.data.email.clone();
        let reason = failed.error.message.clone();
        let inventory = &self.inventory;
        let order = &order_id;
        let released = ctx
            .step
            .run(
                "release-stock",
                || async move { Ok(inventory.release(order)) },
            )
            .await?;
        let notification_ids = ctx
            .step
            .send_event(
                "notify-customer",
                Event::from(EmailRequested {
                    to: email,
                    template: "order-failed".into(),
                    order_id: order_id.clone(),
                })
                .with_id(format!("order-failed-email-{order_id}")),
            )
            .await?;
        Ok(OrderCleanup {
            order_id,
            released,
            reason,
            notification_ids,
        })
    }

    /// A `process-order` run was cancelled (`order.cancelled` during the cool-off): release
    /// its stock. Nothing was charged yet. Registered as `process-order-cancelled`.
    async fn order_cancelled(
        &self,
        ctx: Ctx<FunctionCancelled<OrderCreated>>,
    ) -> inngest::Result<OrderCleanup> {
        let order_id = ctx.event.data.event.data.order_id.clone();
        let inventory = &self.inventory;
        let order = &order_id;
        let released = ctx
            .step
            .run(
                "release-stock",
                || async move { Ok(inventory.release(order)) },
            )
            .await?;
        Ok(OrderCleanup {
            order_id,
            released,
            reason: "cancelled by the customer".into(),
            notification_ids: Vec::new(),
        })
    }
}

/// `POST /orders` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewOrder {
    /// The customer.
    pub customer_id: String,
    /// Where confirmations go.
    pub email: String,
    /// At least one line.
    pub items: Vec<LineItem>,
}

/// `POST /orders` answer (202): the order id and the id of the `order.created` event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAccepted {
    /// The new order's id.
    pub order_id: String,
    /// The ids Inngest gave the sent events.
    pub event_ids: Vec<String>,
}

/// `POST /orders/{id}/cancel` answer (202): the id of the `order.cancelled` event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancellationAccepted {
    /// The order.
    pub order_id: String,
    /// The ids Inngest gave the sent events.
    pub event_ids: Vec<String>,
}

/// Takes orders: sends `order.created`, which starts processing.
pub struct OrderIntake {
    inngest: Arc<InngestService>,
}

#[injectable]
impl OrderIntake {
    fn new(inngest: Arc<InngestService>) -> Self {
        Self { inngest }
    }

    /// Accepts the order and sends `order.created` (the event id is derived from the order
    /// id, so a retried send never starts two runs).
    pub async fn place(&self, order: NewOrder) -> Result<OrderAccepted, SendError> {
        let order_id = new_id("ord");
        let event = Event::from(OrderCreated {
            order_id: order_id.clone(),
            customer_id: order.customer_id,
            email: order.email,
            items: order.items,
        })
        .with_id(format!("order-created-{order_id}"));
        let event_ids = self.inngest.send(event).await?;
        Ok(OrderAccepted {
            order_id,
            event_ids,
        })
    }

    /// Sends `order.cancelled`: an order still in its cool-off stops before it is charged.
    pub async fn cancel(&self, order_id: String) -> Result<CancellationAccepted, SendError> {
        let event = Event::from(OrderCancelled {
            order_id: order_id.clone(),
        })
        .with_id(format!("order-cancelled-{order_id}"));
        let event_ids = self.inngest.send(event).await?;
        Ok(CancellationAccepted {
            order_id,
            event_ids,
        })
    }
}

async fn create_order(
    State(intake): State<Arc<OrderIntake>>,
    Json(order): Json<NewOrder>,
) -> Result<(StatusCode, Json<OrderAccepted>), ApiError> {
    if order.customer_id.trim().is_empty() {
        return Err(ApiError::Invalid("`customerId` is required".into()));
    }
    if order.items.is_empty() || order.items.iter().any(|item| item.quantity == 0) {
        return Err(ApiError::Invalid(
            "`items` needs at least one line, each with a quantity of 1 or more".into(),
        ));
    }
    let accepted = intake.place(order).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

async fn cancel_order(
    State(intake): State<Arc<OrderIntake>>,
    Path(order_id): Path<String>,
) -> Result<(StatusCode, Json<CancellationAccepted>), ApiError> {
    if !order_id.starts_with("ord-") {
        return Err(ApiError::Invalid(format!(
            "`{order_id}` is not an order id (`ord-…`)"
        )));
    }
    let accepted = intake.cancel(order_id).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The module: imports `payments` for the gateway, serves `POST /orders` and
/// `POST /orders/{id}/cancel`.
pub fn module() -> Module {
    Module::new("orders")
        .config::<OrdersConfig>("orders")
        .import(payments::module())
        .provide::<Inventory>()
        .provide::<OrderProcessor>()
        .provide::<OrderIntake>()
        .export::<Inventory>()
        .routes(|intake: Arc<OrderIntake>| {
            Router::new()
                .route("/orders", post(create_order))
                .route("/orders/{id}/cancel", post(cancel_order))
                .with_state(intake)
        })
}
