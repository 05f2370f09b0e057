//! The ledger's domain as pure functions over plain data: what an event says ([`fact`]), the
//! payment and order state machines ([`payment`], [`order`]), the double-entry journal
//! ([`journal`]) and the one decision that combines them ([`decide`]). No I/O here: the apply
//! pipeline is the only place that mixes the domain with the store.

pub mod batch;
pub mod decide;
pub mod fact;
pub mod journal;
pub mod order;
pub mod payment;
pub mod route;

pub use decide::{decide, order_meets_payment, Decision, Outcome};
pub use fact::Fact;
pub use journal::{Account, Entry, JournalTx};
pub use order::{Order, OrderStatus};
pub use payment::{Payment, PaymentStatus};
