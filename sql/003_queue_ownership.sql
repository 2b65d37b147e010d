-- One owner per queue, fenced. A batch process works on a queue under a lease kept in Redis; every lease comes
-- with a fencing token that grows with each acquisition. The queue's row here is where MariaDB checks it: each
-- batch's transaction first updates the row only if its token is not older than the row's (0 rows → the process
-- lost the queue while it was stalled: roll back), so a stale owner's commit fails whatever Redis says.
-- The row also carries what the queue's batches need in common: the highest request number decided (so a
-- request Redis hands out again is recognised), and the queue's block of reservation ids (so no single row is
-- updated by every batch of every queue).
CREATE TABLE queue_fences (
  queue_tag VARCHAR(24) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  token BIGINT NOT NULL DEFAULT 0,
  -- Who holds it (for operators), and its connection, so that a new owner can end a stalled owner's open
  -- transaction (KILL) instead of waiting for its locks.
  holder VARCHAR(160) CHARACTER SET ascii NULL,
  holder_connection BIGINT NULL,
  decided_seq BIGINT NOT NULL DEFAULT 0,
  next_reservation_id BIGINT NOT NULL DEFAULT 0,
  reservation_id_end BIGINT NOT NULL DEFAULT 0,
  batches BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

-- Which requests each batch covered, by queue and request number: a request handed out again (Redis lost a
-- finish, or a dead owner's batch is taken over) is found here and its recorded outcome published again.
-- Each record also has its queue's commit number (queue_fences.batches, counted under the fence), and the
-- reservations and balances it changed: the finish in Redis notes the last commit number published, so the
-- queue's next owner republishes the caches of any commit whose publication a dead owner never finished
-- (holds it expired included, which no request outcome names).
ALTER TABLE batch_outcomes
  ADD COLUMN queue_tag VARCHAR(24) CHARACTER SET ascii NULL,
  ADD COLUMN first_seq BIGINT NULL,
  ADD COLUMN last_seq BIGINT NULL,
  ADD COLUMN commit_number BIGINT NULL,
  -- [reservation_id, ...] and [user_id, ...]
  ADD COLUMN reservation_ids LONGTEXT CHARACTER SET ascii NOT NULL DEFAULT '[]' CHECK (JSON_VALID(reservation_ids)),
  ADD COLUMN balance_users LONGTEXT CHARACTER SET ascii NOT NULL DEFAULT '[]' CHECK (JSON_VALID(balance_users)),
  ADD KEY batch_outcomes_by_queue_seq (queue_tag, last_seq),
  ADD KEY batch_outcomes_by_queue_commit (queue_tag, commit_number);

-- Requests the general queue's pass moved into a performance's queue: claimed (decided_in set) by the batch that
-- decides them there, so a forward pushed twice is decided once.
CREATE TABLE forwarded_requests (
  request_id VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  target_queue VARCHAR(24) CHARACTER SET ascii NOT NULL,
  forwarded_in VARCHAR(128) CHARACTER SET ascii NOT NULL,
  decided_in VARCHAR(128) CHARACTER SET ascii NULL
) ENGINE=InnoDB;

-- A balance's version grows with every change: the Redis cache keeps the newest it was given, so a late
-- publication never overwrites a newer balance.
ALTER TABLE balances ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- Performances with holds to expire are found from this index alone, without visiting every performance ever
-- sold (it replaces the same key without the performance).
ALTER TABLE reservations DROP KEY reservations_to_expire,
  ADD KEY reservations_to_expire (state, hold_expires_at, performance_id);
