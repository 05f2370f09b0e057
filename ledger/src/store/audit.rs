//! The audit log (`audit_log`, append-only by database triggers): one row per operator
//! action through the admin API, written by the API's audit layer after the action answered.

use keffi_shared::MerchantId;
use serde::Serialize;
use utoipa::ToSchema;

use super::conn::on_pool;
use super::{Store, StoreError};

/// One row to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at_ms: i64,
    /// The merchant acted on; `None` for the platform's own routes (merchants, sources).
    pub merchant: Option<MerchantId>,
    pub token_name: String,
    pub token_scope: String,
    pub action: String,
    pub target: String,
    pub status: u16,
    /// A JSON object summarising the request (never a secret).
    pub detail: Option<String>,
}

/// One row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at_ms: i64,
    pub merchant_id: Option<String>,
    pub token_name: String,
    pub token_scope: String,
    pub action: String,
    pub target: String,
    pub status: i64,
    pub detail: Option<String>,
}

/// One operator action, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// When the request arrived, ms since the Unix epoch.
    pub at_ms: i64,
    /// The merchant acted on; absent for the platform's own routes (adding a merchant).
    pub merchant: Option<String>,
    /// The name of the token that made the request (never the token).
    pub token_name: String,
    /// That token's scope: `read`, `operate` or `admin`.
    pub token_scope: String,
    /// The method and route, e.g. `POST /v1/events/{id}/replay`.
    pub action: String,
    /// The request's path, e.g. `/v1/events/12/replay`.
    pub target: String,
    /// The HTTP status the API answered: 403 when the token's scope did not allow it.
    pub status: i64,
    /// What else identifies the request, when known: `reference`, `amount`, `currency` from
    /// its body, its `idempotency_key`, `replayed` for an answer replayed for that key.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at_ms: r.at_ms,
            merchant: r.merchant_id,
            token_name: r.token_name,
            token_scope: r.token_scope,
            action: r.action,
            target: r.target,
            status: r.status,
            // Written by this code as JSON; anything else is shown as the text it is.
            detail: r
                .detail
                .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
        }
    }
}

impl Store {
    /// Appends one entry (its own statement: it does not join the action's transaction,
    /// which has already committed or rolled back).
    pub async fn append_audit(&self, e: &NewAuditEntry) -> Result<i64, StoreError> {
        let sql = "INSERT INTO audit_log
                       (at_ms, merchant_id, token_name, token_scope, action, target, status,
                        detail)
                   VALUES ($1, $8, $2, $3, $4, $5, $6, $7) RETURNING id";
        let id: i64 = on_pool!(self, c => sqlx::query_scalar(sql)
            .bind(e.at_ms)
            .bind(&e.token_name)
            .bind(&e.token_scope)
            .bind(&e.action)
            .bind(&e.target)
            .bind(i64::from(e.status))
            .bind(e.detail.as_deref())
            .bind(e.merchant.as_ref().map(MerchantId::as_str))
            .fetch_one(c)
            .await)?;
        Ok(id)
    }

    /// Entries newest first (by id), optionally one token's, before an id (the keyset
    /// cursor): one merchant's, or with `None` every entry (the platform's view).
    pub async fn list_audit(
        &self,
        merchant: Option<&MerchantId>,
        token_name: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = "SELECT id, at_ms, merchant_id, token_name, token_scope, action, target,
                          status, detail
                   FROM audit_log
                   WHERE ($4 IS NULL OR merchant_id = $4)
                     AND ($1 IS NULL OR token_name = $1) AND ($2 IS NULL OR id < $2)
                   ORDER BY id DESC LIMIT $3";
        let rows: Vec<AuditRow> = on_pool!(self, c => sqlx::query_as(sql)
            .bind(token_name)
            .bind(before_id)
            .bind(i64::from(limit))
            .bind(merchant.map(MerchantId::as_str))
            .fetch_all(c)
            .await)?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}
