//! Merchants, and which merchant each source's events belong to.

use keffi_shared::MerchantId;
use serde::Serialize;
use utoipa::ToSchema;

use super::conn::on_pool;
use super::rows::merchant;
use super::{Store, StoreError};

/// A merchant as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Merchant {
    pub id: MerchantId,
    /// For people: the dashboard's picker, the audit log.
    pub name: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct MerchantRow {
    id: String,
    name: String,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl TryFrom<MerchantRow> for Merchant {
    type Error = StoreError;
    fn try_from(r: MerchantRow) -> Result<Self, StoreError> {
        Ok(Merchant {
            id: merchant(&r.id)?,
            name: r.name,
            created_at_ms: r.created_at_ms,
            updated_at_ms: r.updated_at_ms,
        })
    }
}

/// A source routed to a merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SourceRecord {
    /// The `{source}` of the edge's `/hooks/{source}`.
    pub name: String,
    pub merchant: MerchantId,
    /// Set for a source added through the API (its settings and secrets live at the edge);
    /// unset for one configured in `wrangler.toml` and only routed here.
    pub provider: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Set once removed: the edge refuses its deliveries from then on; events it brought
    /// before stay its merchant's, and the name stays this merchant's.
    pub removed_at_ms: Option<i64>,
    /// Set once the source splits (a platform account): from then on each event is the
    /// merchant's its payload names, not this merchant's.
    pub split_at_ms: Option<i64>,
    /// The metadata key a split source reads the merchant from, when it has one.
    pub metadata_key: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SourceRow {
    name: String,
    merchant_id: String,
    provider: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
    removed_at_ms: Option<i64>,
    split_at_ms: Option<i64>,
    metadata_key: Option<String>,
}

impl TryFrom<SourceRow> for SourceRecord {
    type Error = StoreError;
    fn try_from(r: SourceRow) -> Result<Self, StoreError> {
        Ok(SourceRecord {
            name: r.name,
            merchant: merchant(&r.merchant_id)?,
            provider: r.provider,
            created_at_ms: r.created_at_ms,
            updated_at_ms: r.updated_at_ms,
            removed_at_ms: r.removed_at_ms,
            split_at_ms: r.split_at_ms,
            metadata_key: r.metadata_key,
        })
    }
}

const SOURCE_COLUMNS: &str =
    "name, merchant_id, provider, created_at_ms, updated_at_ms, removed_at_ms, split_at_ms, \
     metadata_key";

/// How a claim of a source's name went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The name was free: it is the merchant's from now on.
    New(SourceRecord),
    /// The name was the merchant's already (removed or not): it is live again.
    Again(SourceRecord),
    /// The name is another merchant's, for good.
    Taken,
}

/// Adding a merchant or a source found it taken.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("`{0}` exists already")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const MERCHANT_COLUMNS: &str = "id, name, created_at_ms, updated_at_ms";

impl Store {
    pub async fn add_merchant(
        &self,
        id: &MerchantId,
        name: &str,
        now_ms: i64,
    ) -> Result<Merchant, AddError> {
        let inserted: Option<String> = on_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO merchants (id, name, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $3)
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(now_ms)
        .fetch_optional(c)
        .await)
        .map_err(StoreError::from)?;
        if inserted.is_none() {
            return Err(AddError::Exists(id.to_string()));
        }
        Ok(Merchant {
            id: id.clone(),
            name: name.to_owned(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        })
    }

    pub async fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>, StoreError> {
        let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1");
        let row: Option<MerchantRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(id.as_str())
            .fetch_optional(c)
            .await)?;
        row.map(Merchant::try_from).transpose()
    }

    /// Merchants by id, after `after`, at most `limit`.
    pub async fn list_merchants(
        &self,
        after: Option<&MerchantId>,
        limit: u32,
    ) -> Result<Vec<Merchant>, StoreError> {
        let sql = format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE ($1 IS NULL OR id > $1)
             ORDER BY id LIMIT $2"
        );
        let rows: Vec<MerchantRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(after.map(MerchantId::as_str))
            .bind(i64::from(limit))
            .fetch_all(c)
            .await)?;
        rows.into_iter().map(Merchant::try_from).collect()
    }

    /// Renames a merchant (its id never changes). `None`: no such merchant.
    pub async fn rename_merchant(
        &self,
        id: &MerchantId,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<Merchant>, StoreError> {
        let sql = format!(
            "UPDATE merchants SET name = $2, updated_at_ms = $3 WHERE id = $1
             RETURNING {MERCHANT_COLUMNS}"
        );
        let row: Option<MerchantRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(id.as_str())
            .bind(name)
            .bind(now_ms)
            .fetch_optional(c)
            .await)?;
        row.map(Merchant::try_from).transpose()
    }

    /// Routes `name`'s events to `merchant` from the next one applied on. A source is routed
    /// once, for good.
    pub async fn add_source(
        &self,
        name: &str,
        merchant: &MerchantId,
        now_ms: i64,
    ) -> Result<SourceRecord, AddError> {
        let inserted: Option<String> = on_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO sources (name, merchant_id, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING RETURNING name",
        )
        .bind(name)
        .bind(merchant.as_str())
        .bind(now_ms)
        .fetch_optional(c)
        .await)
        .map_err(StoreError::from)?;
        if inserted.is_none() {
            return Err(AddError::Exists(name.to_owned()));
        }
        Ok(SourceRecord {
            name: name.to_owned(),
            merchant: merchant.clone(),
            provider: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            removed_at_ms: None,
            split_at_ms: None,
            metadata_key: None,
        })
    }

    /// The merchant's sources, by name, removed ones too.
    pub async fn sources_of(&self, merchant: &MerchantId) -> Result<Vec<SourceRecord>, StoreError> {
        let sql =
            format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE merchant_id = $1 ORDER BY name");
        let rows: Vec<SourceRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .fetch_all(c)
            .await)?;
        rows.into_iter().map(SourceRecord::try_from).collect()
    }

    /// The merchant's source `name`; `None` if the name is not the merchant's.
    pub async fn source_of(
        &self,
        merchant: &MerchantId,
        name: &str,
    ) -> Result<Option<SourceRecord>, StoreError> {
        let sql =
            format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE merchant_id = $1 AND name = $2");
        let row: Option<SourceRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(name)
            .fetch_optional(c)
            .await)?;
        row.map(SourceRecord::try_from).transpose()
    }

    /// Claims `name` for a source of `merchant` added through the API, with its provider: a
    /// free name becomes the merchant's; the merchant's own (a retry, a replacement, or one
    /// it removed) is live again; another merchant's is refused. One statement decides, so
    /// two platforms' requests for one name cannot both win.
    pub async fn claim_source(
        &self,
        name: &str,
        merchant: &MerchantId,
        provider: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        let insert = format!(
            "INSERT INTO sources (name, merchant_id, provider, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING RETURNING {SOURCE_COLUMNS}"
        );
        let row: Option<SourceRow> = on_pool!(self, c => sqlx::query_as(&insert)
            .bind(name)
            .bind(merchant.as_str())
            .bind(provider)
            .bind(now_ms)
            .fetch_optional(c)
            .await)?;
        if let Some(row) = row {
            return Ok(Claim::New(row.try_into()?));
        }
        let update = format!(
            "UPDATE sources SET provider = $3, updated_at_ms = $4, removed_at_ms = NULL
             WHERE name = $1 AND merchant_id = $2 RETURNING {SOURCE_COLUMNS}"
        );
        let row: Option<SourceRow> = on_pool!(self, c => sqlx::query_as(&update)
            .bind(name)
            .bind(merchant.as_str())
            .bind(provider)
            .bind(now_ms)
            .fetch_optional(c)
            .await)?;
        Ok(match row {
            Some(row) => Claim::Again(row.try_into()?),
            None => Claim::Taken,
        })
    }

    /// Gives back a name [`Store::claim_source`] just took (`Claim::New`) when the edge
    /// refused the source: nothing was ever routed through it.
    pub async fn release_source(
        &self,
        name: &str,
        merchant: &MerchantId,
    ) -> Result<(), StoreError> {
        on_pool!(self, c => sqlx::query("DELETE FROM sources WHERE name = $1 AND merchant_id = $2")
            .bind(name)
            .bind(merchant.as_str())
            .execute(c)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Marks the merchant's source `name` removed; `None` if the name is not the merchant's.
    pub async fn remove_source(
        &self,
        merchant: &MerchantId,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<SourceRecord>, StoreError> {
        let sql = format!(
            "UPDATE sources SET removed_at_ms = COALESCE(removed_at_ms, $3), updated_at_ms = $3
             WHERE merchant_id = $1 AND name = $2 RETURNING {SOURCE_COLUMNS}"
        );
        let row: Option<SourceRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(name)
            .bind(now_ms)
            .fetch_optional(c)
            .await)?;
        row.map(SourceRecord::try_from).transpose()
    }
}

/// A token issued to a merchant through the API, as listed (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenRecord {
    pub name: String,
    pub merchant: MerchantId,
    /// `read`, `operate` or `admin`.
    pub scope: String,
    pub created_at_ms: i64,
    /// Set once revoked: the token opens nothing from then on.
    pub revoked_at_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    name: String,
    merchant_id: String,
    scope: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(TokenRecord {
            name: r.name,
            merchant: merchant(&r.merchant_id)?,
            scope: r.scope,
            created_at_ms: r.created_at_ms,
            revoked_at_ms: r.revoked_at_ms,
        })
    }
}

const TOKEN_COLUMNS: &str = "name, merchant_id, scope, created_at_ms, revoked_at_ms";

impl Store {
    /// Keeps an issued token's hash. A name is the merchant's once, revoked or not.
    pub async fn add_token(
        &self,
        merchant: &MerchantId,
        name: &str,
        scope: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<TokenRecord, AddError> {
        let inserted: Option<String> = on_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO api_tokens (token_hash, merchant_id, name, scope, created_at_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING name",
        )
        .bind(token_hash)
        .bind(merchant.as_str())
        .bind(name)
        .bind(scope)
        .bind(now_ms)
        .fetch_optional(c)
        .await)
        .map_err(StoreError::from)?;
        if inserted.is_none() {
            return Err(AddError::Exists(name.to_owned()));
        }
        Ok(TokenRecord {
            name: name.to_owned(),
            merchant: merchant.clone(),
            scope: scope.to_owned(),
            created_at_ms: now_ms,
            revoked_at_ms: None,
        })
    }

    /// The live (unrevoked) token with this hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens
             WHERE token_hash = $1 AND revoked_at_ms IS NULL"
        );
        let row: Option<TokenRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(token_hash)
            .fetch_optional(c)
            .await)?;
        row.map(TokenRecord::try_from).transpose()
    }

    /// The merchant's issued tokens, by name, revoked ones too.
    pub async fn tokens_of(&self, merchant: &MerchantId) -> Result<Vec<TokenRecord>, StoreError> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE merchant_id = $1 ORDER BY name");
        let rows: Vec<TokenRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .fetch_all(c)
            .await)?;
        rows.into_iter().map(TokenRecord::try_from).collect()
    }

    /// Revokes the merchant's token `name`; `None`: it has no live token of that name.
    pub async fn revoke_token(
        &self,
        merchant: &MerchantId,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!(
            "UPDATE api_tokens SET revoked_at_ms = $3
             WHERE merchant_id = $1 AND name = $2 AND revoked_at_ms IS NULL
             RETURNING {TOKEN_COLUMNS}"
        );
        let row: Option<TokenRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(name)
            .bind(now_ms)
            .fetch_optional(c)
            .await)?;
        row.map(TokenRecord::try_from).transpose()
    }
}
