//! Enums whose variants are known by fixed names (statuses, scopes, providers): one table of
//! names gives each its `ALL`, `as_str`, `from_name` and `Display`, so the name of a variant
//! is written once and parsing can never disagree with printing.

/// Implements, for a fieldless enum, `ALL` (every variant, in the order given), `as_str` (the
/// variant's name), `from_name` (the variant of exactly that name) and `Display` (the name).
/// Each type keeps its own `FromStr`, with the error its callers show.
///
/// ```
/// #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// enum Light { Red, Green }
/// keffi_shared::named_variants!(Light { Red => "red", Green => "green" });
///
/// assert_eq!(Light::ALL, [Light::Red, Light::Green]);
/// assert_eq!(Light::Green.as_str(), "green");
/// assert_eq!(Light::from_name("red"), Some(Light::Red));
/// assert_eq!(Light::from_name("Red"), None);
/// assert_eq!(Light::Red.to_string(), "red");
/// ```
#[macro_export]
macro_rules! named_variants {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The variant's name, as it is stored, sent and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            /// The variant named exactly `name`.
            pub fn from_name(name: &str) -> Option<$ty> {
                match name {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::core::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
