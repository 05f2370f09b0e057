-- A Stripe dispute names its payment by the PaymentIntent, not by the order's reference: the
-- pipeline finds the payment by its gateway transaction id.
CREATE INDEX payments_gateway_id ON payments (gateway_id, merchant_id) WHERE gateway_id IS NOT NULL;
