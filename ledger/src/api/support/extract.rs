//! Extractors whose rejections are `ApiError`s, so malformed JSON, wrong types and bad query
//! strings get the API's JSON error body and a 400/415/422, never axum's plain text.

use axum::extract::{FromRequest, FromRequestParts};

use super::error::ApiError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The query of a route that takes no parameters: any parameter is refused with 400, as the
/// list routes refuse one they do not know, so a typo never passes for a filter.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// A JSON number that is whole, as JSON Schema's `integer` is (`85.0` is 85), or null.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number, got {n}"
        ))),
    }
}

/// Whether the store can hold `s` at all: Postgres text cannot hold NUL, so a key with one
/// names no row on either store (and is answered as such, never as a database failure).
pub fn storable(s: &str) -> bool {
    !s.contains('\0')
}

/// `{reference}` of an order's routes. Read as text: a path that is not a valid [`Reference`]
/// names no order, so the handler answers it 404, never 400.
///
/// [`Reference`]: keffi_shared::Reference
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrderPath {
    /// The order's reference.
    #[param(value_type = keffi_shared::Reference, inline)]
    pub reference: String,
}

/// `{reference}` of a payment's routes: the gateway's reference, any text.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PaymentPath {
    /// The payment's reference, as the gateway sent it.
    pub reference: String,
}
