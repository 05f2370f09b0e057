-- A source added through the API (PUT /v1/merchants/{id}/sources/{name}) lives at the edge
-- with its secrets; here it keeps which merchant it belongs to, its provider, and when it was
-- removed. `provider` is NULL for a source configured in wrangler.toml and only routed here.
-- A removed source keeps its row: events it brought before still belong to its merchant, and
-- its name is never another merchant's.
ALTER TABLE sources ADD COLUMN provider TEXT;
ALTER TABLE sources ADD COLUMN removed_at_ms INTEGER;
