-- Delivery receipts as telemetry (issue 11): the provider that accepted a
-- challenge's SMS and its id of the message, so that an SMPP deliver_sm or a
-- Twilio status callback finds the challenge; then the state the receipt
-- reports and when. NULL for challenges whose SMS was never accepted and for
-- those written before this migration. Verification never reads them.
ALTER TABLE challenges ADD COLUMN provider TEXT;
ALTER TABLE challenges ADD COLUMN provider_message_id TEXT;
ALTER TABLE challenges ADD COLUMN delivery_state TEXT;
ALTER TABLE challenges ADD COLUMN delivered_at BIGINT;
CREATE INDEX challenges_by_provider_message ON challenges (provider, provider_message_id);
