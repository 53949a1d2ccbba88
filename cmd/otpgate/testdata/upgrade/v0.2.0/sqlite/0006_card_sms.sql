-- Templates per flow (issue 11): a card authentication's SMS may state the
-- amount and the card's last four digits. A resendOtp names its session only
-- by the authenticate's requestId, so the authenticate's record keeps them for
-- the resends to state them again (a resendOtp's record keeps a copy, for a
-- takeover). None of it is a secret: PCI DSS lets the last four digits of a
-- card be shown and kept, and the amount is the purchase's; the card number,
-- CVN and cryptogram are never stored. NULL, all three, for the records of
-- other methods and for those written before this migration (an instance of
-- the previous release, still running during a rollout, leaves them NULL).
ALTER TABLE requests ADD COLUMN card_amount_micros INTEGER;
ALTER TABLE requests ADD COLUMN card_currency TEXT;
ALTER TABLE requests ADD COLUMN card_last4 TEXT;
