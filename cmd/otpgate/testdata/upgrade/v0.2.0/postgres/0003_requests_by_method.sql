-- The idempotency key becomes (scope, method, id): Google reuses one requestId
-- across methods (its sendOtp and verifyOtp examples share one), and the same
-- requestId on another method is a new request, not a conflict (SPEC §4).
-- The twin of sqlite/migrations/0003_requests_by_method.sql, which has to copy
-- the table; here the key changes in place and the rows stay where they are.
ALTER TABLE requests DROP CONSTRAINT requests_pkey, ADD PRIMARY KEY (scope, method, id);
