-- The batch history: one row per batch the pass ran (and per visit that only expired holds), written after the
-- batch's own transaction, never inside it. `concert-batch report` reads it; the live page reads the same records
-- from Redis (`concert:batch:recent`). The forms are defined in Sources/ReservationCore/BatchTiming.swift.
CREATE TABLE batch_log (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  -- when the batch ended (written and read with time_zone '+00:00': no session setting can shift it)
  ended_at TIMESTAMP(3) NOT NULL,
  -- the queue: p<performance id>, or g for the general queue
  queue_tag VARCHAR(24) CHARACTER SET ascii NOT NULL,
  -- queue entries taken (0: a visit that only expired holds)
  size INT NOT NULL CHECK (size >= 0),
  -- take → handed to the publisher: what the cost model fits
  seconds DOUBLE NOT NULL CHECK (seconds >= 0),
  -- how long the batch's oldest request had waited when it was taken
  oldest_wait_seconds DOUBLE NOT NULL CHECK (oldest_wait_seconds >= 0),
  -- holds the visit expired
  expired INT NOT NULL CHECK (expired >= 0),
  -- requests decided (the sum of outcomes), so rates need no JSON
  decided INT NOT NULL CHECK (decided >= 0),
  -- {"reserve":{"SEAT_TAKEN":30,"done":120},"pay":{"done":5}}: counts by kind and outcome
  outcomes TEXT CHARACTER SET ascii NOT NULL CHECK (JSON_VALID(outcomes)),
  KEY batch_log_by_time (ended_at)
) ENGINE=InnoDB;
