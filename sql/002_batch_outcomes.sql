-- Outcomes are recorded per committed batch, not per request: one row holds every terminal status the batch
-- decided (a JSON array) and the requests it forwarded to other queues. A batch of thousands of requests then
-- costs MariaDB one row instead of thousands, and the row's key (queue, batch number from Redis, first request
-- id) is what a pass finishing a dead pass's in-flight batch looks up: found means committed (publish the
-- recorded statuses again), missing means not committed (decide the batch). Two passes deciding the same batch
-- write the same key, so the slower one's transaction is refused.
CREATE TABLE batch_outcomes (
  batch_key VARCHAR(128) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  request_count INT NOT NULL,
  -- [[request_id, kind, user_id, outcome, reservation_id|null, accepted_at_ms, status_json_text|null], ...]
  -- (status JSON null for a rejection: the view below builds it)
  -- utf8mb4 like the connection, so a megabyte of JSON is stored without a character set conversion.
  outcomes LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (JSON_VALID(outcomes)),
  -- [[queue_tag, queue_entry], ...]
  forwarded LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (JSON_VALID(forwarded)),
  decided_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

-- Outcomes recorded one per request before this migration become one-request batches.
INSERT INTO batch_outcomes (batch_key, request_count, outcomes, forwarded, decided_at)
SELECT CONCAT('legacy:', request_id), 1,
       JSON_ARRAY(JSON_ARRAY(request_id, kind, user_id, outcome, reservation_id, accepted_at_ms, status_json)),
       '[]', decided_at
FROM request_outcomes;

DROP TABLE request_outcomes;

-- One row per decided request, for operators, audits and `concert-admin verify`.
CREATE VIEW request_outcomes AS
-- A rejection's status JSON is not stored: it is built here exactly as RequestResult.rejectionJSON builds it.
SELECT o.request_id, o.kind, o.user_id, o.outcome, o.reservation_id,
       COALESCE(o.status_json, CONCAT('{"requestId":"', o.request_id, '","kind":"', o.kind,
                                      '","status":"rejected","reason":"', o.outcome, '"}')) AS status_json,
       o.accepted_at_ms,
       b.decided_at, b.batch_key
FROM batch_outcomes b,
     JSON_TABLE(b.outcomes, '$[*]' COLUMNS (
       request_id VARCHAR(64) CHARACTER SET ascii PATH '$[0]',
       kind VARCHAR(8) CHARACTER SET ascii PATH '$[1]',
       user_id BIGINT PATH '$[2]',
       outcome VARCHAR(32) CHARACTER SET ascii PATH '$[3]',
       reservation_id BIGINT PATH '$[4]',
       accepted_at_ms BIGINT PATH '$[5]',
       status_json TEXT CHARACTER SET utf8mb4 PATH '$[6]'
     )) AS o;
