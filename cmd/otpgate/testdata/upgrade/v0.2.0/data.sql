-- Rows written by otpgate v0.2.0 (56e0e73), dumped by generate.sh.
INSERT INTO accounts(id,phone,status,updated_at) VALUES('UP-1','+919876500001','active',1795859915629);
INSERT INTO accounts(id,phone,status,updated_at) VALUES('UP-2','+919876500002','active',1795859915629);
INSERT INTO associations(id,account_id) VALUES('up-as-1','UP-1');
INSERT INTO associations(id,account_id) VALUES('up-as-2','UP-2');
INSERT INTO cards(hash,account_id,last4,expiry_year,expiry_month,secret_id) VALUES(X'e8513c0152ce57989c7fa14bf93baeb109aebcc97395d32e974e04ba058b00c0','UP-1','1112',2040,1,'legacy');
INSERT INTO requests(scope,method,id,fingerprint,state,result,reply_id,challenge_id,sends,claim_token,claimed_at,created_at,secret_id,card_amount_micros,card_currency,card_last4) VALUES('','sendOtp','up-send-1',X'b25b1082bc87513cfa3ff990478f8793172705c6b918d11f57c62876644ed92b','done','success','QYUBR72JLZRIGXA5O4BLPGHM','JGMFNCLDNJA4KKLC4ME25PC2',1,'XJJDVFWHP6VMGISA275OBCOY',1795859916343,1795859916343,'legacy',NULL,NULL,NULL);
INSERT INTO requests(scope,method,id,fingerprint,state,result,reply_id,challenge_id,sends,claim_token,claimed_at,created_at,secret_id,card_amount_micros,card_currency,card_last4) VALUES('','verifyOtp','up-verify-1',X'673f66f60ba073d558264da49692e63b2d16389084e25010ee09a0a5c6c0db73','done','success','C4DDEHEB6UNMK4OOZWZIIXPE','',0,'',1795859916383,1795859916383,'legacy',NULL,NULL,NULL);
INSERT INTO requests(scope,method,id,fingerprint,state,result,reply_id,challenge_id,sends,claim_token,claimed_at,created_at,secret_id,card_amount_micros,card_currency,card_last4) VALUES('','sendOtp','up-send-2',X'74995170473cba52093b64d0bd25cc217d570462c6c8ba51b2e3ec4d47a2da6f','done','success','XL5CRPNZ22URJWKZ2TM75B2V','R7NPEANIZ7THV44QYOO7NFDC',1,'ISD6TMW3GFSV6VF42U7ACLYW',1795859916401,1795859916401,'legacy',NULL,NULL,NULL);
INSERT INTO challenges(id,account_id,code_mac,state,attempts,created_at,expires_at,secret_id,provider,provider_message_id,delivery_state,delivered_at) VALUES('JGMFNCLDNJA4KKLC4ME25PC2','UP-1',X'877e46956f86f114996254d6845220f8398f3375d5f45d2269ae7df117c692cb','consumed',1,1795859916343,1795860216343,'legacy','file',NULL,'submitted',NULL);
INSERT INTO challenges(id,account_id,code_mac,state,attempts,created_at,expires_at,secret_id,provider,provider_message_id,delivery_state,delivered_at) VALUES('R7NPEANIZ7THV44QYOO7NFDC','UP-2',X'fd49f6a63aa6c264c3f6897eb5d5bc190cfd8e69ce438f859d99fc270256f702','live',0,1795859916401,1795860216401,'legacy','file',NULL,'submitted',NULL);
INSERT INTO events(kind,subject,at) VALUES('send','account:UP-1',1795859916343);
INSERT INTO events(kind,subject,at) VALUES('send','phone:8913daed9031c8aec16a640f1ddea7b5',1795859916343);
INSERT INTO events(kind,subject,at) VALUES('send','account:UP-2',1795859916401);
INSERT INTO events(kind,subject,at) VALUES('send','phone:4abac1464056fbe9da5c699fa97ba228',1795859916401);
