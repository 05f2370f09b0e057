-- Reads for the operator's dashboard (an order's timeline, search, the charts), each a range
-- of an index instead of a scan of the whole inbox:
-- an order's events by reference (the timeline, search, `GET /v1/events?reference=`);
CREATE INDEX inbox_events_reference ON inbox_events (reference, id);
-- events received per minute over the last hour (`GET /v1/stats/series`);
CREATE INDEX inbox_events_received ON inbox_events (received_at_ms);
-- events settled per minute by status: applied per minute, dead per hour.
CREATE INDEX inbox_events_settled ON inbox_events (status, applied_at_ms);
