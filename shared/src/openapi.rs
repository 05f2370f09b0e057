//! OpenAPI schemas for the newtypes the ledger's API takes and answers with, built from the
//! same constants their parsers check, so the document states exactly the rule the code
//! applies. Behind the `openapi` feature: the Worker's wasm never carries utoipa.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::{Currency, MerchantId, MinorUnits, Provider, Reference};

impl PartialSchema for Reference {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(Reference::MAX_LEN))
            .pattern(Some(Reference::PATTERN))
            .description(Some(
                "A merchant's payment reference, as the checkout gives it to the gateway: 1 to \
                 100 of `A-Z a-z 0-9 . - _ =`.",
            ))
            .into()
    }
}

impl ToSchema for Reference {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Reference")
    }
}

impl PartialSchema for MerchantId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MerchantId::MAX_LEN))
            .pattern(Some(MerchantId::PATTERN))
            .description(Some(
                "A merchant's id, chosen when the merchant is added and never changed: 1 to 40 \
                 of `a-z 0-9 _ -`, starting with a letter. `default` is the deployment's own.",
            ))
            .into()
    }
}

impl ToSchema for MerchantId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MerchantId")
    }
}

impl PartialSchema for MinorUnits {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some(
                "An amount in the currency's minor units (kobo for NGN): 500000 is ₦5,000.00.",
            ))
            .into()
    }
}

impl ToSchema for MinorUnits {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MinorUnits")
    }
}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("An ISO 4217 currency code, upper case."))
            .into()
    }
}

impl ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Currency")
    }
}

impl PartialSchema for Provider {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Provider::ALL.map(Provider::as_str)))
            .description(Some("A payment provider, by the name Keffi knows it."))
            .into()
    }
}

impl ToSchema for Provider {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Provider")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn the_reference_schema_states_the_parsers_rule() {
        let s = json::<Reference>();
        assert_eq!(s["pattern"], Reference::PATTERN);
        assert_eq!(s["maxLength"], Reference::MAX_LEN);
        assert_eq!(s["minLength"], 1);
        assert_eq!(json::<Currency>()["pattern"], "^[A-Z]{3}$");
        assert_eq!(json::<MinorUnits>()["type"], "integer");
        assert_eq!(json::<Provider>()["enum"][3], "standard-webhooks");
    }
}
