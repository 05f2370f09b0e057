//! The edge's settings, read from the Worker's bindings once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use keffi_shared::edge::{EdgeSettings, Rejection};
use worker::Env;

thread_local! {
    // Bindings do not change within an isolate (a new deploy or `.dev.vars` change starts a new
    // one), so parsing and key decoding happen once, not per request.
    static SETTINGS: RefCell<Option<Rc<EdgeSettings>>> = const { RefCell::new(None) };
}

/// The parsed settings, or a 503 `edge_misconfigured` naming what is wrong.
pub fn settings(env: &Env) -> Result<Rc<EdgeSettings>, Rejection> {
    if let Some(s) = SETTINGS.with(|c| c.borrow().clone()) {
        return Ok(s);
    }
    let lookup = |name: &str| {
        env.secret(name)
            .ok()
            .map(|s| s.to_string())
            .or_else(|| env.var(name).ok().map(|v| v.to_string()))
    };
    let parsed = EdgeSettings::from_lookup(&lookup)
        .map(Rc::new)
        .map_err(|e| Rejection::Misconfigured(e.to_string()))?;
    SETTINGS.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    Ok(parsed)
}
