//! Orders as the merchant's app creates them (with the pending payment each expects), and
//! the domain's view of one order and one payment.

use keffi_shared::{Currency, MerchantId, MinorUnits, Provider};

use super::conn::{on_pool, on_tx};
use super::rows::{PaymentRow, PAYMENT_ROW_COLUMNS};
use super::{Store, StoreError, Tx};
use crate::domain::{order_meets_payment, Order, OrderStatus, Payment};

/// Creating an order failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateOrderError {
    #[error("an order with reference `{0}` already exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Tx {
    /// Creates an order and the pending payment it expects in this transaction. If the
    /// charge got there first, the order takes the payment's state at once.
    ///
    /// Crossing a batch that applies the order's charge is the common case on a laggy network
    /// (the phone's create is retried just as the webhook lands), so the reference's lock is
    /// taken first, as every path does: whichever of the two commits second sees the other.
    /// The pending payment is only ever inserted, never written over: a charge committed by
    /// the time this runs is adopted, not erased.
    // The order's fields one by one, as the columns they fill: a struct for them would only
    // be unpacked here.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_order(
        &mut self,
        merchant: &MerchantId,
        reference: &str,
        amount: MinorUnits,
        currency: Currency,
        gateway: Provider,
        metadata: Option<&str>,
        now_ms: i64,
    ) -> Result<Order, CreateOrderError> {
        self.lock_references(&[(merchant, reference)]).await?;
        let inserted: Option<String> = on_tx!(self, c, _lock => sqlx::query_scalar(
            "INSERT INTO orders (merchant_id, reference, amount, currency, status, metadata,
                 created_at_ms, updated_at_ms)
             VALUES ($7, $1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (merchant_id, reference) DO NOTHING RETURNING reference",
        )
        .bind(reference)
        .bind(amount.get())
        .bind(currency.as_str())
        .bind(OrderStatus::Pending.as_str())
        .bind(metadata)
        .bind(now_ms)
        .bind(merchant.as_str())
        .fetch_optional(c)
        .await)
        .map_err(StoreError::from)?;
        if inserted.is_none() {
            return Err(CreateOrderError::Exists(reference.to_owned()));
        }
        let order = Order {
            reference: reference.to_owned(),
            amount,
            currency,
            status: OrderStatus::Pending,
            review_reason: None,
        };
        match self.payment_for_update(merchant, reference).await? {
            None => {
                self.insert_pending_payment(
                    merchant,
                    &Payment::pending(reference, gateway, amount, currency),
                    now_ms,
                )
                .await?;
                Ok(order)
            }
            // The charge arrived first (an order-less payment): the order takes its state now,
            // or it would wait for a charge that will never come again.
            Some(payment) => match order_meets_payment(&order, &payment) {
                Some((adopted, payment)) => {
                    // The order is new in this transaction: no stream can follow it yet,
                    // so there is nothing to announce.
                    self.save_order(merchant, &adopted, now_ms).await?;
                    self.save_payment(merchant, &payment, now_ms).await?;
                    Ok(adopted)
                }
                None => Ok(order),
            },
        }
    }
}

impl Store {
    /// Creates an order to be paid through Paystack and the pending payment it expects, in
    /// one transaction.
    pub async fn create_order(
        &self,
        merchant: &MerchantId,
        reference: &str,
        amount: MinorUnits,
        currency: Currency,
        metadata: Option<&str>,
        now_ms: i64,
    ) -> Result<Order, CreateOrderError> {
        self.create_order_via(
            merchant,
            reference,
            amount,
            currency,
            Provider::Paystack,
            metadata,
            now_ms,
        )
        .await
    }

    /// Creates an order to be paid through `gateway`, and its pending payment.
    #[allow(clippy::too_many_arguments)] // as `Tx::create_order`
    pub async fn create_order_via(
        &self,
        merchant: &MerchantId,
        reference: &str,
        amount: MinorUnits,
        currency: Currency,
        gateway: Provider,
        metadata: Option<&str>,
        now_ms: i64,
    ) -> Result<Order, CreateOrderError> {
        let mut tx = self.begin().await?;
        match tx
            .create_order(
                merchant, reference, amount, currency, gateway, metadata, now_ms,
            )
            .await
        {
            Ok(order) => {
                tx.commit().await?;
                Ok(order)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    pub async fn order(
        &self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<Order>, StoreError> {
        self.order_record(merchant, reference)
            .await?
            .map(Order::try_from)
            .transpose()
    }

    pub async fn payment(
        &self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let sql = format!(
            "SELECT {PAYMENT_ROW_COLUMNS} FROM payments WHERE merchant_id = $1 AND reference = $2"
        );
        let row: Option<PaymentRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(reference)
            .fetch_optional(c)
            .await)?;
        row.map(Payment::try_from).transpose()
    }
}

impl Store {
    /// The reference of each of `merchant`'s payments `gateway` captured as one of `ids`.
    pub async fn references_by_gateway_id(
        &self,
        merchant: &MerchantId,
        gateway: Provider,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT gateway_id, reference FROM payments
             WHERE gateway_id IN ({}) AND merchant_id = $1 AND gateway = $2",
            super::conn::params(3, ids.len())
        );
        let rows: Vec<(String, String)> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&sql).bind(merchant.as_str()).bind(gateway.as_str());
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        Ok(rows.into_iter().collect())
    }
}
