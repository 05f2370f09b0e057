//! The operator dashboard: one self-contained page embedded in the binary. It holds no data
//! itself; after sign-in it reads the admin API with the operator's token.
//!
//! The page can replay events, so it must not run anything it did not ship with, nor be
//! framed by another site (a clickjacking page could trick a signed-in operator into
//! pressing Replay). Its Content-Security-Policy allows exactly its one inline script, by
//! that script's SHA-256 (so `script-src` needs no `'unsafe-inline'`), and no framing.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const PAGE: &str = include_str!("../../assets/dashboard.html");

/// The page's Content-Security-Policy, with its script's hash computed once from the page
/// the binary carries, so an edit of the script can never leave a stale hash behind.
static POLICY: LazyLock<String> = LazyLock::new(|| policy(PAGE));

pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY.as_str()),
            // For browsers that predate `frame-ancestors`.
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
        .into_response()
}

/// The policy for `page`: its inline scripts by hash, same-origin requests only (the admin
/// API), inline styles, and no framing, no plugins, no form posts, no `<base>` rewrites.
fn policy(page: &str) -> String {
    let hashes: Vec<String> = inline_scripts(page)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src {}; style-src 'unsafe-inline'; object-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hashes.join(" ")
    )
}

/// The text of each `<script>` element without a `src` (what a browser hashes: every byte
/// between the tags).
fn inline_scripts(page: &str) -> impl Iterator<Item = &str> {
    page.split("<script").skip(1).filter_map(|rest| {
        let (attributes, rest) = rest.split_once('>')?;
        let (body, _) = rest.split_once("</script>")?;
        (!attributes.contains("src=")).then_some(body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_pages_script_by_hash_and_no_framing() {
        let scripts: Vec<&str> = inline_scripts(PAGE).collect();
        assert_eq!(scripts.len(), 1, "the dashboard has one inline script");
        assert!(scripts[0].contains("function money("));
        let policy = policy(PAGE);
        let script_src = policy
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap();
        assert!(!script_src.contains("unsafe"), "{script_src}");
        assert!(script_src.contains("'sha256-"), "{script_src}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn the_hash_is_of_exactly_the_scripts_text() {
        let page = "<p>x</p><script>alert(1)</script><script src=\"/a.js\"></script>";
        let scripts: Vec<&str> = inline_scripts(page).collect();
        assert_eq!(scripts, ["alert(1)"]);
        // `printf 'alert(1)' | openssl dgst -sha256 -binary | base64`
        assert!(policy(page).contains("'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"));
    }
}
