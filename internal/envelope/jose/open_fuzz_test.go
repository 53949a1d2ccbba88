package jose

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
)

// FuzzOpen opens arbitrary bytes with a real key set and every algorithm
// this package supports allowed, so that each of go-jose's paths that a
// configuration can reach is fuzzed. It checks that Open never panics, that
// it returns a plaintext or an error wrapping exactly one of
// envelope.ErrUndecryptable and envelope.ErrBadSignature (the server maps
// them to 400 and 401), that an error never quotes the plaintext, and that
// whatever it accepts is exactly a plaintext Google's key signed: the seeds
// sign nothing else. It does not bound Open's running time.
//
// Its keys are fixed (below) rather than the tests' generated ones, because
// a fuzzing run opens the seeds in several worker processes, each running
// this setup, and a body sealed in one must open in the others.
//
// Run it for longer with
//
//	go test -run '^$' -fuzz '^FuzzOpen$' -fuzztime 10m ./internal/envelope/jose
func FuzzOpen(f *testing.F) {
	ours, google := fuzzKey(f, fuzzOurJWK), fuzzKey(f, fuzzGoogleJWK)
	all := Options{
		KeyAlgorithms:       supportedKeyAlgorithms,
		ContentEncryptions:  supportedContentEncryptions,
		SignatureAlgorithms: supportedSignatureAlgorithms,
		Now:                 func() time.Time { return fuzzNow },
	}
	server, err := New(&KeySet{Ours: []*Key{ours}, Google: []*Key{google.Public()}}, all)
	if err != nil {
		f.Fatal(err)
	}

	// What Google sends by default, then other algorithms, compression and
	// no kid, each made by a Codec playing Google.
	var bodies [][]byte
	for _, o := range []struct {
		keyAlg, enc, sigAlg string
		compress            bool
	}{
		{"RSA1_5", "A128CBC-HS256", "RS256", false},
		{"RSA-OAEP-256", "A256GCM", "PS512", false},
		{"RSA-OAEP", "A192CBC-HS384", "RS384", true},
	} {
		opts := all
		opts.KeyAlgorithms = []string{o.keyAlg}
		opts.ContentEncryptions = []string{o.enc}
		opts.SignatureAlgorithms = []string{o.sigAlg}
		opts.Compress = o.compress
		g, err := New(&KeySet{Ours: []*Key{google}, Google: []*Key{ours.Public()}}, opts)
		if err != nil {
			f.Fatal(err)
		}
		body, err := g.Seal(fuzzPlaintext)
		if err != nil {
			f.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	jws := sign(f, fuzzPlaintext, "RS256", google.PrivateKey, "", nil)
	bodies = append(bodies, encrypt(f, []byte(jws), "RSA1_5", "A128CBC-HS256", ours.PublicKey, "", false))
	for _, body := range bodies {
		if pt, err := server.Open(body); err != nil || !bytes.Equal(pt, fuzzPlaintext) {
			f.Fatalf("a valid seed does not open: %v", err)
		}
	}

	valid := string(bodies[0])
	wrap := func(inner string) []byte {
		return encrypt(f, []byte(inner), "RSA1_5", "A128CBC-HS256", ours.PublicKey, ours.ID, false)
	}
	seeds := append(bodies,
		[]byte(valid[:len(valid)-4]),
		[]byte(valid[:len(valid)/2]),
		[]byte(flip(f, valid, 3)),
		[]byte(valid+".AAAA"),
		[]byte(jws), // a JWS without its JWE
		wrap(sign(f, fuzzPlaintext, "RS256", ours.PrivateKey, ours.ID, nil)), // signed by us, not Google
		wrap(sign(f, fuzzPlaintext, "HS256", google.PublicKey.N.Bytes(), google.ID, nil)),
		wrap(strings.Join(strings.Split(jws, ".")[:2], ".")+"."), // no signature
		wrap("not a JWS"),
		encrypt(f, []byte(jws), "RSA1_5", "A128CBC-HS256", google.PublicKey, ours.ID, false), // to the wrong key
		[]byte(""),
		[]byte("...."),
	)
	for _, seed := range seeds {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		plaintext, err := server.Open(body)
		if err == nil {
			if !bytes.Equal(plaintext, fuzzPlaintext) {
				t.Fatalf("Open accepted a body whose plaintext Google never signed: %q", plaintext)
			}
			return
		}
		if plaintext != nil {
			t.Errorf("Open returned %d bytes of plaintext along with error %v", len(plaintext), err)
		}
		undecryptable, badSignature := errors.Is(err, envelope.ErrUndecryptable), errors.Is(err, envelope.ErrBadSignature)
		if undecryptable == badSignature {
			t.Errorf("error %q wraps neither or both of ErrUndecryptable and ErrBadSignature", err)
		}
		if strings.Contains(err.Error(), fuzzSecret) && !bytes.Contains(body, []byte(fuzzSecret)) {
			t.Errorf("error quotes the plaintext: %q", err)
		}
	})
}

// fuzzPlaintext is Google's example verifyOtp request; fuzzSecret its OTP.
var fuzzPlaintext = []byte(`{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},` +
	`"requestId":"0123434-otp-abc","requestTimestamp":"1502545413098"},"sendOtpRequestId":"0123434-otp-abc","otp":"7754321"}`)

const fuzzSecret = "7754321"

// fuzzNow is the codecs' clock. The keys never expire.
var fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fuzzKey(f *testing.F, jwk string) *Key {
	f.Helper()
	keys, err := ParseJWKs([]byte(jwk))
	if err != nil || len(keys) != 1 {
		f.Fatalf("fuzz key: %v", err)
	}
	return keys[0]
}

// The fuzz keys, RSA-2048 made by GenerateKey, sign and encrypt. They
// protect nothing but this test.
const (
	fuzzOurJWK    = `{"kty":"RSA","kid":"ours-fuzz","n":"waHhuRavhWSH6WcTsYoNyIhAS1Hxuyprp_946XKdBd8J1u_KvDXC_MtJPTeaurnXyZ4ep1UvSwhfd45Q2x9Rkl7OiRBfAmEX-OCjrPmCPK8_nVeoSDcmVHhI2yAdX9S_3YHugZA1LHuiPwCP83veSmtJ935bJe_F-jioYYimVw7bbNoipMDzMCAgpALB9mADAwWKbBXI48xBHTr-a1eFKF4n5t2AncuY9a-RNdhYtjXtXGkoFk86_PB7shFJI2gcw75GouPqlPgUFqdH7jidXTHys3vBQvbe6WXcUBaNeTDFnMXRIihvpzv--QEmDw2sY1T5zJhLilxEiM1rPQWySQ","e":"AQAB","d":"GpQRo4IPaDA3LqzBKYTBZRX8u0n9dBs7yUTaMDMVBiYKF_h0u9ZmVCREQpSkFr7lNY3Qd9gLxJEa55J_m0BGhmCgmXRHklBJBdax6M-b1qAYi4ypcvYs-vnCyF81YP7XMjzARAULI3a5-8tkNv_48H6fGct8j-3EX1cRF8g1yuunzgM8VEmzWgyUTwQ52wwNOrz7N53YPdH3fBoFqMKHFLnV56ZFcCBKTi_82FdCY2VRzhQszLhHeDOUAgU4oObyZiXWivegi-wwitZkxD-7bBVpsyNrli_lYih3sIABLRsuIRVgW25n4gch1OJuVFEtaXsku-C_DmpkkOYU_h5NfQ","p":"_EHRLXi-3hjav5pKN4IoejKxWkNXCFgXp_449S0GONMAU5qO_LMk1NNgRhgjTdSkIelHtMeqtNfQiOHkXNbzzFHohifSxp7J1D1hmlwbhcBVLlt1yvUSmVNbjWKwm8TEZUtYOkhIu1ZwNCag3EAZLIeVRjcQF3Tg21qrQ4ecIz0","q":"xIFh1g9FnbeazKflWfYJjYeQK-bkTmzHsRogkjQEglUKqEulrBSpukubpvC2Wic8UNWwIKIHdaWpHAnqyF330RCCZoJyao6fcQ8JviS25vgf11v_Mmz0Np2fFVYstAa6ReMunRiPH8DMerDm9YtwRT6wLcDRKgpxHeL2_qU0S_0","dp":"eMPNr7ZBsjQ17UqhQ0fFtxKzw2G_tdfuo1daz02Zz_R8EIpK8AGXnWgAjC4cILOvTCjRUmPQfrlfNVjnqeaiWuvPpQJFrx7vwvML2glEh9jXLtVMZDjFia_Vga-Am2ItH81dVLGsWDt-hgkEM81f_-h891t_Eau7xmf22-J9RoU","dq":"Kv5v7Ijs32Qjn3GAsd0uG-Q0PBbJjwsn6ezggXyWG_oFWesrNWpT9GnEhZMXIsSA4uLOJWWuIiR7yqG01-APb5OgJFOYOw43fmIe7JZV2lUhilobjOnfyO9VtjJjl4P9T3s0YLTV48moM5PvBHxctRnRLEGKwhsEwtg82FxHA_U","qi":"NbVaCrEXcN2VT-An6PpwamR7Dp88AKxzHa7NbERxANNL5d39OMVLM_0JEzIwyzD42MpVG8TCSidlcy0ej9RKehAvVqIIy19kHRMUqh0jMhodAVUiZxVgm7QLHS-A-9l75pks9S1CtPgWTF1lNUrGJxlJCYYqJ9cC8GL7roYpOeA"}`
	fuzzGoogleJWK = `{"kty":"RSA","kid":"google-fuzz","n":"s3x7OmJuKK2r2OvZDueYyYEQl6tEcyND-9wWN1j3P3zwEoONF_OAJsB_hWr5oMiUQDwJlew9PUctmylJqANbXG35u21OcHfw8tHqQvmPGF2GZG8pgULQkbENK1LPYYLIWSSMxCb1rlwgr8xW1rAstTDCdhAKMxVVOpn9HzFPEcjm_HSH-E9M6j-MbIM5CN2tPMmXuvSDgqOGJ8n4IN5EHiLMYPvYEstueYDO8-EEjFXs_wgy90KcDN8ggiDBj1ZnJR00FwIYcuygZhZjhJXRA2uPLood6KBNQ0asUwFU_sN9t1s1oZM-9vtjWOXZbUDbD9XiOOGZleQtG1JGGMiAcQ","e":"AQAB","d":"7K6k0RjQqv5ZiR4j3RkKIVj7cwV7U1lDDPHsrzpiJcEF02QmFVoZuQBJ02XS8x2NDCd00dP0mBnZygIStGZjfj8yUjXnJJMFk9kRUcBFMkbM3HlkrKUEOcV_2DbFwZBJzJimB65Ydinb8KFE4gDvnlSYxOyMhqWwU4E8iHroCZ7tVsSP8G9RfSuHGqBxeSDCP0pSu1Bt1Xj7GyBgpGxa85gMzHoXpvWqE0BE9tQnMzzYZgShnJu7rlcUdbLH2ZUUITe4o7rKKw370dLuubIofXAAWOindV4hKFAMrctS-4aJV64RbukKFp4URaVa8GnjFGBE8l2Bt7OPEIqG3VcB","p":"yisG6JKqKxTeWy6B17p7WJUoSQvoDlqsAAPWFO_wjX9lc6gAgbQOSJyJQikFrTX1T4YHPvubwLYOGA8t8nKjMuHdBatiCn9NY5YR72srnxoVMqMKaDmaXHCIOnr5huii8kCEq26LKWHka7ElTESYqq9q2dCgG8NcNI9PMXq2j0E","q":"40dTybTkktHJUugSBw1dy113SwB3EiUSRO12BFqZKUlGutF7EockzJs-83I_SesX2BOuNYscU4E6PkCwBRtJiMg9Uv3k3Q22gRg0apUtneVYxPqJQD40crtHi7Jb2eIrRfzFq-wk28K5L7qqhsZgJyfJPmIWTUogYBw1cLMm1TE","dp":"GOp2noE84bRftyMjM4AzJXa0kVQbVHGOUy4l20y6--VgjoF9Fn8nZ4GLVRETNwa4ZgWhrPx7dKO7VvG_-upv_JxjjghSO_L2ibh8G2K87I3dYPFBHhlDUfM4huSTDjJrqqmS8EHeesoqya76Zszpd9fItnGE2gcYvQ2QeAukpkE","dq":"ZlbJzbucaNf59VD2PSKxp07w1l7hPtReg5cBWziIWuTZ6mlFJ7Sex1roX6qEAP7Q_8Ts3sNC__7igQGTwNjmpaa0plgY48i28y44-_0sSzroW9oMT1czOq5Fqwum_Fcw8RS-1YlBl4r45BsDiihtR3RM08BLFoZYSa6qCZNB2yE","qi":"PkCkF8NHfmE72sbzienFCItUmOJ9EaDYfp3ksB0345VHJo2Kf5kaSR9QfYuD37T9azJaEogolfhpfievYEtzLohtpDHUImZ-3tro6661o-U0bu1nNuym7EwbpPFdwMAKtXPQwodPy4UJ1IU3qGlkjY50BxKCWlnn4wG0ANd6gxo"}`
)
