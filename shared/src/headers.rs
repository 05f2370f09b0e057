//! Read-only access to request headers, so schemes can be checked against any HTTP stack
//! (the Worker's `Headers`, axum's `HeaderMap`, a test's array) without depending on one.

/// Case-insensitive lookup of a request header's value.
pub trait HeaderSource {
    /// The first value of header `name` (ASCII case-insensitive), if present.
    fn header(&self, name: &str) -> Option<&str>;
}

/// An owned list of headers with lower-cased names: the edge copies the Worker's headers into
/// one of these once per request, and it is what tests construct.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    entries: Vec<(String, String)>,
}

impl RequestHeaders {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header; the name is lower-cased. A repeated name keeps its first value for lookup.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl Into<String>) {
        self.entries
            .push((name.as_ref().to_ascii_lowercase(), value.into()));
    }

    /// Builder form of [`RequestHeaders::insert`].
    pub fn with(mut self, name: impl AsRef<str>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl<N: AsRef<str>, V: Into<String>> FromIterator<(N, V)> for RequestHeaders {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = RequestHeaders::new();
        for (n, v) in iter {
            headers.insert(n, v);
        }
        headers
    }
}

impl HeaderSource for RequestHeaders {
    fn header(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HeaderSource for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

impl<const N: usize> HeaderSource for [(&str, &str); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_first_value_wins() {
        let h = RequestHeaders::new()
            .with("X-Paystack-Signature", "abc")
            .with("x-paystack-signature", "def");
        assert_eq!(h.header("x-paystack-signature"), Some("abc"));
        assert_eq!(h.header("X-PAYSTACK-SIGNATURE"), Some("abc"));
        assert_eq!(h.header("verif-hash"), None);
    }

    #[test]
    fn arrays_are_header_sources() {
        let h = [("Content-Type", "application/json")];
        assert_eq!(h.header("content-type"), Some("application/json"));
    }
}
