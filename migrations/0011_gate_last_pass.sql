-- Each gate's newest pass, for `GET /api/v1/gates` and the gates page: an
-- index walked backwards from the newest id of one (gateway, gate).
CREATE INDEX gate_passes_by_gate ON gate_passes (gateway, gate, id);
