//! `GET /v1/orders/{reference}/timeline`: one reference's story in one ordered list, built
//! from what the ledger records — the order row, the payment row, the inbox events that name
//! the reference (with their raw bodies) and the journal transactions posted for it.
//!
//! There is no history table: intermediate order and payment statuses are not stored, so the
//! timeline shows what each event did (its outcome and reason, when it was settled, and the
//! journal transaction it posted) and the order's and payment's state now with the time of
//! their last change. Nothing here writes.

use crate::api::access::tenant::Tenant;

use axum::extract::State;
use axum::Json;
use keffi_shared::money::Money;
use serde::Serialize;
use utoipa::ToSchema;

use super::events::EventView;
use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{storable, ApiPath, ApiQuery, NoQuery, PaymentPath};
use crate::api::support::ApiState;
use crate::store::journal::PostedTransaction;
use crate::store::records::{OrderRecord, PaymentRecord};
use crate::store::InboxStatus;
use keffi_shared::wire::ErrorBody;

/// The most inbox events one timeline shows (the oldest; `truncated` says there are more).
pub const MAX_EVENTS: u32 = 500;

/// What an entry records. Entries at the same millisecond come in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// The merchant created the order (`order`).
    OrderCreated,
    /// The payment row was first written (`payment`): by the order's creation or a charge.
    PaymentCreated,
    /// An inbox event arrived (`event`, with its raw body and headers): its status now.
    EventReceived,
    /// A journal transaction was posted (`transaction`, with its lines), by `event_id`.
    JournalPosted,
    /// An event was settled — applied, ignored or dead — at `at_ms` (`event_id`; the last
    /// time, if it was replayed).
    EventSettled,
    /// The payment last changed (`payment`: its state now).
    PaymentUpdated,
    /// The order last changed (`order`: its state now).
    OrderUpdated,
}

/// One thing that happened to the reference.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// When, ms since the epoch. An event's arrival is the edge's clock; the rest the ledger's.
    pub at_ms: i64,
    pub kind: TimelineKind,
    /// For humans: what happened.
    pub summary: String,
    /// The status this entry records (the event's, payment's or order's), if it has one.
    pub status: Option<String>,
    /// The inbox event this entry is about (`event_received`, `event_settled`, the event
    /// that posted a `journal_posted`).
    pub event_id: Option<i64>,
    /// With `event_received`: the event, with its raw body and headers.
    pub event: Option<EventView>,
    /// With `journal_posted`: the transaction and its lines.
    pub transaction: Option<PostedTransaction>,
    /// With `order_created` / `order_updated`.
    pub order: Option<OrderRecord>,
    /// With `payment_created` / `payment_updated`.
    pub payment: Option<PaymentRecord>,
}

impl TimelineEntry {
    fn new(at_ms: i64, kind: TimelineKind, summary: String) -> Self {
        TimelineEntry {
            at_ms,
            kind,
            summary,
            status: None,
            event_id: None,
            event: None,
            transaction: None,
            order: None,
            payment: None,
        }
    }

    /// The order entries sort in: time, then kind, then the event's or transaction's id.
    fn sort_key(&self) -> (i64, TimelineKind, i64) {
        let id = self
            .transaction
            .as_ref()
            .map(|t| t.id)
            .or(self.event_id)
            .unwrap_or(0);
        (self.at_ms, self.kind, id)
    }
}

/// One reference's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub reference: String,
    /// The order now, if there is one.
    pub order: Option<OrderRecord>,
    /// The payment now, if there is one.
    pub payment: Option<PaymentRecord>,
    /// Oldest first: by `at_ms`, then by `kind` in its listed order, then by id.
    pub entries: Vec<TimelineEntry>,
    /// The reference has more than 500 inbox events: the timeline holds the oldest 500.
    pub truncated: bool,
}

/// Builds the entries from the rows (pure: tested below without a database).
pub fn entries(
    order: Option<&OrderRecord>,
    payment: Option<&PaymentRecord>,
    events: Vec<EventView>,
    journal: Vec<PostedTransaction>,
) -> Vec<TimelineEntry> {
    use TimelineKind::*;
    let mut out = Vec::new();
    if let Some(o) = order {
        let mut e = TimelineEntry::new(
            o.created_at_ms,
            OrderCreated,
            format!("order created: {}", Money::new(o.amount, o.currency)),
        );
        e.order = Some(o.clone());
        out.push(e);
        if o.updated_at_ms > o.created_at_ms || o.version > 1 {
            let mut e = TimelineEntry::new(
                o.updated_at_ms,
                OrderUpdated,
                format!(
                    "order now {} (version {}){}",
                    o.status,
                    o.version,
                    o.review_reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            );
            e.status = Some(o.status.to_string());
            e.order = Some(o.clone());
            out.push(e);
        }
    }
    if let Some(p) = payment {
        let mut e = TimelineEntry::new(
            p.created_at_ms,
            PaymentCreated,
            format!("payment recorded ({})", p.gateway),
        );
        e.payment = Some(p.clone());
        out.push(e);
        if p.updated_at_ms > p.created_at_ms {
            let mut e = TimelineEntry::new(
                p.updated_at_ms,
                PaymentUpdated,
                format!("payment now {}", p.status),
            );
            e.status = Some(p.status.to_string());
            e.payment = Some(p.clone());
            out.push(e);
        }
    }
    for t in journal {
        let mut e = TimelineEntry::new(
            t.posted_at_ms,
            JournalPosted,
            format!("journal: {} ({} lines)", t.kind, t.entries.len()),
        );
        e.event_id = Some(t.event_id);
        e.transaction = Some(t);
        out.push(e);
    }
    for v in events {
        let ev = &v.event;
        let reason = ev
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        if let Some(at) = ev.applied_at_ms {
            let mut e = TimelineEntry::new(
                at,
                EventSettled,
                format!("event {} {}{reason}", ev.id, ev.status),
            );
            e.status = Some(ev.status.to_string());
            e.event_id = Some(ev.id);
            out.push(e);
        }
        let via = match (ev.shard, ev.seq) {
            (Some(shard), Some(seq)) => format!("edge shard {shard} #{seq}"),
            _ => format!("source {}", ev.source),
        };
        let now = match ev.status {
            InboxStatus::Parked => format!(", parked{reason}"),
            _ => String::new(),
        };
        let mut e = TimelineEntry::new(
            ev.received_at_ms,
            EventReceived,
            format!("{} received via {via}{now}", ev.event_type),
        );
        e.status = Some(ev.status.to_string());
        e.event_id = Some(ev.id);
        e.event = Some(v);
        out.push(e);
    }
    out.sort_by_key(TimelineEntry::sort_key);
    out
}

/// Everything recorded about one reference, oldest first: the order's creation, each inbox
/// event (status, reason, raw body), each journal transaction with its lines, each event's
/// settling, and the order's and payment's latest change. Works for any reference the ledger
/// has seen, with or without an order.
#[utoipa::path(get, path = "/v1/orders/{reference}/timeline", operation_id = "get_order_timeline", tag = "orders",
    params(PaymentPath),
    responses(
        (status = 200, description = "The reference's timeline", body = Timeline),
        BadRequest,
        Unauthorized,
        (status = 404, description = "`not_found`: no order, payment, event or transaction has this reference", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiPath(PaymentPath { reference }): ApiPath<PaymentPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Timeline>, ApiError> {
    if !storable(&reference) {
        return Err(ApiError::not_found("reference", &reference));
    }
    let store = &state.store;
    let order = store.order_record(&tenant, &reference).await?;
    let payment = store.payment_record(&tenant, &reference).await?;
    let mut events = store
        .events_for_reference(&tenant, &reference, MAX_EVENTS + 1)
        .await?;
    let truncated = events.len() > MAX_EVENTS as usize;
    events.truncate(MAX_EVENTS as usize);
    let journal = store.journal_for(&tenant, &reference).await?;
    if order.is_none() && payment.is_none() && events.is_empty() && journal.is_empty() {
        return Err(ApiError::not_found("reference", &reference));
    }
    let events = events
        .into_iter()
        .map(|e| EventView::new(e, true))
        .collect();
    let entries = entries(order.as_ref(), payment.as_ref(), events, journal);
    Ok(Json(Timeline {
        reference,
        order,
        payment,
        entries,
        truncated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderStatus;
    use crate::store::journal::PostedEntry;
    use crate::store::InboxEvent;

    fn event(
        id: i64,
        key: &str,
        received: i64,
        applied: Option<i64>,
        status: InboxStatus,
    ) -> EventView {
        EventView::new(
            InboxEvent {
                id,
                merchant_id: keffi_shared::MerchantId::default_merchant(),
                idempotency_key: key.into(),
                source: "paystack".into(),
                provider: keffi_shared::Provider::Paystack,
                event_type: "charge.success".into(),
                reference: Some("ord_1".into()),
                received_at_ms: received,
                applied_at_ms: applied,
                status,
                reason: None,
                shard: None,
                seq: None,
                envelope: String::new(),
            },
            false,
        )
    }

    #[test]
    fn entries_are_in_time_order_with_a_stable_tiebreak() {
        let order = OrderRecord {
            merchant_id: keffi_shared::MerchantId::default_merchant(),
            reference: "ord_1".into(),
            amount: keffi_shared::MinorUnits(500),
            currency: keffi_shared::Currency::NGN,
            status: OrderStatus::Paid,
            review_reason: None,
            metadata: None,
            version: 2,
            created_at_ms: 100,
            updated_at_ms: 300,
        };
        let journal = vec![PostedTransaction {
            id: 7,
            reference: "ord_1".into(),
            kind: "charge".into(),
            event_id: 2,
            event_key: "k2".into(),
            posted_at_ms: 300,
            entries: vec![PostedEntry {
                transaction_id: 7,
                account: "sales".into(),
                currency: "NGN".into(),
                amount: -500,
            }],
        }];
        let events = vec![
            event(2, "k2", 250, Some(300), InboxStatus::Applied),
            event(1, "k1", 250, Some(260), InboxStatus::Dead),
        ];
        let got: Vec<(i64, TimelineKind, Option<i64>)> =
            entries(Some(&order), None, events, journal)
                .iter()
                .map(|e| (e.at_ms, e.kind, e.event_id))
                .collect();
        use TimelineKind::*;
        assert_eq!(
            got,
            [
                (100, OrderCreated, None),
                (250, EventReceived, Some(1)),
                (250, EventReceived, Some(2)),
                (260, EventSettled, Some(1)),
                (300, JournalPosted, Some(2)),
                (300, EventSettled, Some(2)),
                (300, OrderUpdated, None),
            ]
        );
    }
}
