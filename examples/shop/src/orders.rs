//! The `orders` module: `POST /orders` sends `order.created`, and the order-processing
//! function reserves stock, charges the customer (through `payments`), cools off for a
//! minute, fans out `order.confirmed` + `email.requested`, and returns a receipt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router, extract::State};
use framework::{Module, injectable};
use inngest_module::{self as inngest, Ctx, Error, Event, InngestService, SendError};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, new_id};
use crate::payments::{self, Charge, PaymentGateway};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `order.confirmed`: the order is paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailRequested {
    /// The recipient.
    pub to: String,
    /// The template.
    pub template: String,
    /// The order it is about.
    pub order_id: String,
}

/// The payloads of the fan-out: `Step::send_event` takes events of one payload type, so the
/// two kinds share an untagged enum (each serializes as its own struct).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Notification {
    /// `order.confirmed`.
    Confirmed(OrderConfirmed),
    /// `email.requested`.
    Email(EmailRequested),
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

/// Pretend stock keeping: remembers every reservation.
#[derive(Debug, Default)]
pub struct Inventory {
    reservations: Mutex<HashMap<String, u32>>,
}

#[injectable]
impl Inventory {
    fn new() -> Self {
        Self::default()
    }

    /// Reserves the order's units. An order without units can never be reserved: that
    /// error is not retried.
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

    /// How many reservations exist.
    pub fn reservation_count(&self) -> usize {
        self.reservations.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// The order-processing function.
pub struct OrderProcessor {
    inventory: Arc<Inventory>,
    gateway: Arc<PaymentGateway>,
}

#[injectable]
impl OrderProcessor {
    fn new(inventory: Arc<Inventory>, gateway: Arc<PaymentGateway>) -> Self {
        Self { inventory, gateway }
    }

    /// reserve-stock → charge → sleep 1 minute → send `order.confirmed` and
    /// `email.requested` → the receipt. Each step runs once per run, however often the run
    /// is replayed; at most 10 orders of one customer are processed at once.
    #[inngest::function(
        id = "process-order",
        name = "Process an order",
        event = "order.created",
        retries = 3,
        concurrency(limit = 10, key = "event.data.customerId")
    )]
    async fn process_order(&self, ctx: Ctx<OrderCreated>) -> inngest::Result<Receipt> {
        let order = &ctx.event.data;
        let inventory = &self.inventory;
        let reservation: Reservation = ctx
            .step
            .run("reserve-stock", || async move { inventory.reserve(order) })
            .await?;

        let gateway = &self.gateway;
        let charge: Charge = ctx
            .step
            .run("charge", || async move {
                gateway.charge(&order.order_id, order.total_cents())
            })
            .await?;

        ctx.step.sleep("cool-off", "1m").await?;

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
        let notification_ids = ctx
            .step
            .send_event(
                "notify",
                [
                    Event::new("order.confirmed", Notification::Confirmed(confirmed))
                        .with_id(format!("order-confirmed-{}", order.order_id)),
                    Event::new("email.requested", Notification::Email(email))
                        .with_id(format!("order-email-{}", order.order_id)),
                ],
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
        let event = Event::new(
            "order.created",
            OrderCreated {
                order_id: order_id.clone(),
                customer_id: order.customer_id,
                email: order.email,
                items: order.items,
            },
        )
        .with_id(format!("order-created-{order_id}"));
        let event_ids = self.inngest.send(event).await?;
        Ok(OrderAccepted {
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

/// The module: imports `payments` for the gateway, serves `POST /orders`.
pub fn module() -> Module {
    Module::new("orders")
        .import(payments::module())
        .provide::<Inventory>()
        .provide::<OrderProcessor>()
        .provide::<OrderIntake>()
        .export::<Inventory>()
        .routes(|intake: Arc<OrderIntake>| {
            Router::new()
                .route("/orders", post(create_order))
                .with_state(intake)
        })
}
