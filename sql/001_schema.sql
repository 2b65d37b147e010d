-- Performances, seats, reservations, request outcomes, balances and their ledger.
-- Times are seconds since 1970 (UTC) in BIGINT: no time zone settings can shift them.

CREATE TABLE performances (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  title VARCHAR(200) NOT NULL,
  starts_at BIGINT NOT NULL,
  seat_count INT NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY performances_by_start (starts_at)
) ENGINE=InnoDB;

-- Seat ids are numbered 1..N within their performance.
CREATE TABLE seats (
  performance_id BIGINT NOT NULL,
  seat_id BIGINT NOT NULL,
  label VARCHAR(32) NOT NULL,
  price BIGINT NOT NULL CHECK (price >= 0),
  PRIMARY KEY (performance_id, seat_id),
  CONSTRAINT seats_performance FOREIGN KEY (performance_id) REFERENCES performances (id)
) ENGINE=InnoDB;

-- Reservation ids come from this counter in blocks, so concurrent passes never collide.
CREATE TABLE id_blocks (
  name VARCHAR(32) NOT NULL PRIMARY KEY,
  next_id BIGINT NOT NULL
) ENGINE=InnoDB;
INSERT INTO id_blocks (name, next_id) VALUES ('reservation', 1);

CREATE TABLE reservations (
  id BIGINT NOT NULL PRIMARY KEY,
  performance_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  state ENUM('held', 'confirmed', 'expired', 'cancelled') NOT NULL,
  amount BIGINT NOT NULL CHECK (amount >= 0),
  hold_expires_at BIGINT NOT NULL,
  request_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY reservations_by_performance (performance_id, state),
  KEY reservations_to_expire (state, hold_expires_at),
  KEY reservations_by_user (user_id),
  CONSTRAINT reservations_performance FOREIGN KEY (performance_id) REFERENCES performances (id)
) ENGINE=InnoDB;

-- The last line of defence against double booking: `live` is 1 while the reservation is held or
-- confirmed and NULL after it expires or is cancelled. A unique key treats NULLs as distinct, so any
-- number of dead rows may name a seat, but two live rows for one seat cannot both exist.
CREATE TABLE reservation_seats (
  reservation_id BIGINT NOT NULL,
  performance_id BIGINT NOT NULL,
  seat_id BIGINT NOT NULL,
  live TINYINT NULL CHECK (live = 1),
  PRIMARY KEY (reservation_id, seat_id),
  UNIQUE KEY one_live_reservation_per_seat (performance_id, seat_id, live),
  CONSTRAINT reservation_seats_reservation FOREIGN KEY (reservation_id) REFERENCES reservations (id),
  CONSTRAINT reservation_seats_seat FOREIGN KEY (performance_id, seat_id) REFERENCES seats (performance_id, seat_id)
) ENGINE=InnoDB;

-- One row per request the pass has applied: the idempotency record. A replayed request finds its row
-- and gets the recorded answer back instead of being applied again.
CREATE TABLE request_outcomes (
  request_id VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  kind ENUM('reserve', 'pay', 'cancel', 'charge') NOT NULL,
  user_id BIGINT NOT NULL,
  outcome VARCHAR(32) CHARACTER SET ascii NOT NULL,
  reservation_id BIGINT NULL,
  status_json TEXT NOT NULL,
  accepted_at_ms BIGINT NOT NULL,
  decided_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY outcomes_by_reservation (reservation_id)
) ENGINE=InnoDB;

-- A balance is a cache of the sum of its ledger, kept in the same transaction; never negative.
CREATE TABLE balances (
  user_id BIGINT NOT NULL PRIMARY KEY,
  balance BIGINT NOT NULL CHECK (balance >= 0),
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

CREATE TABLE ledger (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  kind ENUM('charge', 'payment', 'refund') NOT NULL,
  amount BIGINT NOT NULL,
  request_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  reservation_id BIGINT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY one_entry_per_request (request_id),
  KEY ledger_by_user (user_id)
) ENGINE=InnoDB;
