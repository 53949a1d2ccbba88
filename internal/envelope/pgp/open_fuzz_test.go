package pgp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

// FuzzOpen opens arbitrary bytes with a real key ring, both as a body and as
// the binary OpenPGP message inside one (base64url-encoded here, so that
// mutations reach the packet parser). It checks that Open never panics, that
// it returns a plaintext or an error wrapping exactly one of
// envelope.ErrUndecryptable and envelope.ErrBadSignature (the server maps
// them to 400 and 401), that an error never quotes the plaintext, and that
// whatever it accepts is exactly a plaintext that Google's key signed: the
// seeds sign nothing else. It does not bound Open's running time.
//
// The file is self-contained: its keys are fixed (below) rather than made by
// the package's test fixtures, because a fuzzing run opens the seeds in
// several worker processes, each running this setup, and a body sealed in
// one process must open in the others. Seeds: a body sealed here, its
// truncations, a body to the wrong recipient, and binary messages made by
// GnuPG with these keys (compressed, other ciphers and digests, hidden
// recipient, not signed, not encrypted) in testdata/fuzz/FuzzOpen.
//
// Run it for longer with
//
//	go test -run '^$' -fuzz '^FuzzOpen$' -fuzztime 10m ./internal/envelope/pgp
func FuzzOpen(f *testing.F) {
	server, google := fuzzCodecs(f)
	valid, err := google.Seal(fuzzPlaintext)
	if err != nil {
		f.Fatal(err)
	}
	if pt, err := server.Open(valid); err != nil || !bytes.Equal(pt, fuzzPlaintext) {
		f.Fatalf("the valid seed does not open: %v", err)
	}
	wrongRecipient, err := server.Seal(fuzzPlaintext) // to Google's key, by ours
	if err != nil {
		f.Fatal(err)
	}
	binary, err := base64.URLEncoding.DecodeString(string(valid))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{
		valid,
		bytes.TrimRight(valid, "="),
		append(bytes.Clone(valid), "\r\n"...),
		valid[:len(valid)-4],
		valid[:len(valid)*3/4],
		valid[:len(valid)/2],
		valid[:400], // the session key packet and a little more
		wrongRecipient,
		binary,
		[]byte("="),
		[]byte("AAAA"),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzCheckOpen(t, server, in, in)
		// The same bytes as the binary message inside the base64url, so that
		// mutations reach the packet parser instead of breaking the base64.
		fuzzCheckOpen(t, server, []byte(base64.URLEncoding.EncodeToString(in)), in)
	})
}

// fuzzCheckOpen opens body and checks the result; in is the fuzzer's input,
// which may hold fuzzSecret itself.
func fuzzCheckOpen(t *testing.T, server *Codec, body, in []byte) {
	t.Helper()
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
	if strings.Contains(err.Error(), fuzzSecret) && !bytes.Contains(in, []byte(fuzzSecret)) {
		t.Errorf("error quotes the plaintext: %q", err)
	}
}

// fuzzPlaintext is Google's example verifyOtp request; fuzzSecret its OTP.
var fuzzPlaintext = []byte(`{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},` +
	`"requestId":"0123434-otp-abc","requestTimestamp":"1502545413098"},"sendOtpRequestId":"0123434-otp-abc","otp":"7754321"}`)

const fuzzSecret = "7754321"

// fuzzCodecs returns our server's Codec (fuzzOurKey, Google's public key)
// and one playing Google (fuzzGoogleKey, our public key), at a fixed time
// inside the keys' lifetime, so that bodies made once keep opening.
func fuzzCodecs(f *testing.F) (server, google *Codec) {
	f.Helper()
	parse := func(armored string) (private, public *openpgp.Entity) {
		es, err := ParseKeys([]byte(armored))
		if err != nil || len(es) != 1 {
			f.Fatalf("fuzz key: %v (%d keys)", err, len(es))
		}
		pub, err := ArmorPublicKey(es[0])
		if err != nil {
			f.Fatal(err)
		}
		pubs, err := ParseKeys(pub)
		if err != nil || len(pubs) != 1 {
			f.Fatalf("fuzz key: %v (%d keys)", err, len(pubs))
		}
		return es[0], pubs[0]
	}
	ours, oursPublic := parse(fuzzOurKey)
	theirs, theirsPublic := parse(fuzzGoogleKey)
	opts := Options{Now: func() time.Time { return fuzzNow }}
	var err error
	if server, err = New([]*openpgp.Entity{ours}, []*openpgp.Entity{theirsPublic}, opts); err != nil {
		f.Fatal(err)
	}
	if google, err = New([]*openpgp.Entity{theirs}, []*openpgp.Entity{oursPublic}, opts); err != nil {
		f.Fatal(err)
	}
	return server, google
}

// fuzzNow is the codecs' clock; the keys below were made by GenerateKey
// (RSA-2048) on 2025-01-01 for 50 years. They protect nothing but this
// test.
var fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const fuzzOurKey = `-----BEGIN PGP PRIVATE KEY BLOCK-----

xcLYBGd0hYABCAC5bBoMicOeR3W/Wdihem9DqVfZcG7hkBzNyWia3knkFq0x5pEy
NaAhR6hLt7rN88hesn1IZASUA5gr3hUNhBvD77+UWvel9BIjwDkCmkj1lt65v+/Z
A/ZXOy22al5ttuNNk43xhvXn/UcKvahrEfAiHnG3WsSvreaQ8aVlYWng2s8Y+BnV
pvQ4+le/Dak/fzmZ1fDr0H5bOZiYXzKxI+vmUeSRrqL9QNaGiT8gp0JuIE17dd5V
edpW9gTH9dK2+NKuERF121CwKO1rZiATdvo2cMD1i5av1lm/6Uuch5b74qVZI5v0
dEeNkTLsijhNg/EnqojwevKNGBgW9UjP4I3rABEBAAEAB/sEK15z6mPKsFgBIy0Q
MdJErDnR0DRowAvVw3H7DC/kgBoJkDddm1UWyny0pH9VLZEo3Uycjxsx6i7GyxSg
HC4KUYl2SuFctZ30Iy4PqpZ6Ee1qMdsGfzn6gNXTT0BWU+bNPMR+qjE8s+D1aImx
S/2hVsaUf+cCUvUR900SeDFK9rbO8A2xapWoaeuOV1Xj692zC/OdzJ2nBAgf5UWJ
Okv4f5eYfiIkKJEEoPLuNHWGf15NklZh07UyDIHLJ7MmjrZPVD0mbTVrt4Scx5al
KXO32huFCEH114iwtGerDS3RYVXqlCm3hsBzG/0McqZVDQxIfi5z2f4dWTDLkyyB
v+K5BADShLFKjvQg/g9aB+Mf3F8RZlHuC1IsIvB0lm3nsMhiBYsCts/yZHgxLoUK
frYE5TyndLVvW365tIE9S+d+CdMtluGsxjP5zXowOI2OIDD1QK9cQVjWFFFVlJXN
3DoXyYNtlxoYn+cG4zuD5Sup8+IGPwS0fuzFjlfnOsfBHT6EDQQA4XtmuMj+15LG
obdb1PeUYZnHh5Ti8LaTD8DYjN50OtCU1elksFCCuSvl8JEj1rPB+3KEruAjtx1/
wDB2KPiQVGvOM98/XiL339UP6W5OQ0V2sE3cL10C++e740vD/n3anucGZIVI3tRM
Royphh8jzKVlkHTzzkKtwIGefUnBg9cEAJMDwNWBM7ZIeaOpVlmntUb+KeRPCaZU
cjdb9NpH7FFcvEyxYgBTl5HpNjedYBZKDuXgZX67gRHcVFRazJw484eyrzGJRxqw
whMpVVBKUjaR6cwXCN+Uho6CsQngn8/HO61243mNet6vh9aRbNH0m7DhYGJgKrWX
36NWVE9mq/QxRXHNIG90cGdhdGUgZnV6eiA8ZnV6ekBvdHBnYXRlLnRlc3Q+wsCN
BBMBCQBBBYJndIWABYld/A8AAwsJBwkQZypuHoHgTOMDFQkIAhYAAhkBApsDAh4B
FiEEKUb+flgVvX3GWQAoZypuHoHgTOMAAFr5B/4uoeCdJS+BhpZlbh+NXiNjkDTu
iAZUWpwYJkSfaJ9x9Cdh8I2+q8BmG6E6YaFe8zNL2kQPH6xlYsgEekygqjM2G2aM
yQI6Mq86ahkCV4c1ZXLgBgyHQTaYeEwD8hAKNTL4ZLu938hVz/Nyhaut5UXTMhRd
9Vcl70QSxmN44y5VCzbGwSr06G71lUy2YvkIJNfmHex3/d/JtZGQT5us+ttx3scY
jz9Rs9dMt49kFmRK0G0qz5UawcVAAknJCqtHk9TFFml9SSg+YNtsp9VK/cr4ugND
nZ/Fwnm1XYXcGOYirK9W+Nxd5/7nBIfevUVi9Pyg/3Q4cMQHYahZsYWKqxrLx8LY
BGd0hYABCAC8bLp/fDLxltpDY/OsPQ3rFkE3YDnBxQruilItaf6TjpOWq6RM7QhZ
Q6FSS1Ql2ttDMMHJvbJuokHD0g1Vl6Dv50Ib+1zhdEKOKAr1RlitsMwdgOhrRpWI
70u1eVFO/GZHywlZ+YDtHxa805RpvAjyqVzQFJcI1NvQzUXuXk3ucS6/ATgwTgWH
KOjmIzs+RGy/2kusaRcGZtsuENsW+yCvc34Y2iAuQihbS4iTHJ3cRRuwfktH/2Q7
yRaCLYmN7IDzvnh+UM2Pva7STFiUiFGJSzgAslqVVCabxXCRGLu5QYv4xDrqMiHz
F8rnb1MmpYtZLsqyKyGZyXZTL58hMaoZABEBAAEAB/4udwyNjBHfACGOTUtlfb/d
KWWHM5hCl6XwuZT2xITmG9p65RRU8P3mT1Zsng1f8WaxHMipCHnELQiVMssdgJEM
IAXuMxAOO9Z+ylKbdg+/s1G+c8+8xpDxDfuoQoTBut25FhFWCgBYWRqJEY7vfRJi
zs+Hs5AkOiODy98TH1fN9NgWs23fy2ZRuekTfwpWLuG+/eUYwf82kcgfOTjou4wr
Fg1dOOZCxYNj5wvTCOxzr0gUa5VwAkWP0eVNx39M4OVkybWxlLQopK7WDtkK4lFp
xAX/16oQv2VlWQVImGKfDPpJ95KiI9dpkd2IvY+pSqXPEwawag1azCOZpdfG2uMV
BADK81WvFYemy4GHVc1aBUfV1lWHFhE/+Q5X8i//QK3Jf6epmaZ1Xf5b1m14dzkb
HuxvIxoKn+1i9A+UgC4wEpmXQCF12oznGPPyQPNoBKYDuWpPdj6wpZusSKgZf+x5
ngs4kY+6rgHWkOP3bz2HMTFPJGI60qRdS6h/VKGTb7D8ZQQA7a1iDQsWrcpOdd5h
Cr2YQPrw12EjSUGQRoylmAmBuuxkWYkkNRLKPct1AIphE9LfqlPXS6DjKvuAYrNV
W4LicSlXWD6MBgdCMebCenv9n7WVpYjGK3bkFojSmmwjLqbBm9BzW5rY2dRV89Rm
VTO2sRrForZVboUohLGWZAoyuaUD/jh1jeyu0mHRlnaEUN2tXp5OL07DvcqrBDrd
y7TMzzwm2eUdfC7LioXLhO5HSHm6I8WzgqYbBGAb4gKLlflZTQbfx2NHQjcgqAJe
12dbi3yF16qgGRSPwT8RaOt7V5Ox4tiIV4svoHyyw7+cQa1ab7tiz/oZcC7Dh/Eq
lTKl2TPxQUjCwHwEGAEJADAFgmd0hYAFiV38DwAJEGcqbh6B4EzjApsMFiEEKUb+
flgVvX3GWQAoZypuHoHgTOMAAPbCB/4u1Tk44O6RKKqfkL0Sa3OFF6VfoKvPGsp6
Y4We3L/EO6WX3ZW7DClE1Km2DAaCXwTooHI1QV7A1tsVWI5qtHxitsV/jCJtQXcd
yjnDrzONEsVrzFMGw5+3QQtLej+6meH2iKAlnPb7PBeZKEip5C6T20iNfTLKBF0A
pHKQkCjqWsbMRRnrJGa3f4p4iMQIZpStFOu6smQppT/gTlf7gP4U/mZ2Ru1cTUwr
7CFY5pTiVNKvdsVBdUydTVRx7CFUSJuoxPj9oxT9N7QVaNFYkTzJNoeyDVtfE8UH
Aqs15bZEA55ZJ0Y9wt+s6YEI3cJLwFggXIMWkLT1oTPoJMPtK++a
=qV91
-----END PGP PRIVATE KEY BLOCK-----
`

const fuzzGoogleKey = `-----BEGIN PGP PRIVATE KEY BLOCK-----

xcLYBGd0hYABCADz0v57EqhX2VFz1RLwVNGxlH8b+ALdRqoTEt4Uj1cR7WAco+t/
bTE9anYwDlLiErEXMWVB9AHF7ElBrAitcVJqsqYn5dMca0FX9HpKTjxOdIUKGEQn
44/IJdNpdaKOtGum1WVdirdETKKQnlXYj5ONGuCEcraskk3LjcH8IVhqaTppkd4S
zTYMYiqhmUcbGkh52ebCQ2A05MU9zLEznNt3Pv+c6PfUvrL4pX1P5HfN22+OpHyg
vBmMRZB8Uy8g1Xagxl8H+gVsWWyYfwqTbF4OoLbT6CChSNZ2Wu2zus72UDgOwtAR
LSnOAMVZ1/bhAaFFAezHhMVRgFvIbWXyXzFfABEBAAEAB/4xNEexu4Koc80ptHql
cGB+1ypNkR+22t9QiRKzEHgwQHiQXw4TwYvZyoW+Te2w/LerKAc4p47CC9x+ucJo
igFpUdMRIyKWzhg6MTaKjz5BUOdWMa5zZEtsRyHiWuBqrwM4gED7/xXb3SFDUQie
8t6Cb8WWRPYTXlT/uoRGps4KbvwI1g0QtgGIWcBWiaomXONDbqMqBiAdgtmnflTj
YlVhN5lS7066sclYaQhP9plWrNDQfyqzuKhJ3cgszYI+azzaNYteu8Fj9UfQHCl+
HP9n3vqeqQ8rcg3UDtcQAv6ZgWwiHDQjWkNaH9Y3D0WVvQKXjaVZ470p8ksNeQaY
AgiFBAD3kQMIEdoAVPibYf0m3JJvlngv+4v4NX1i4Fujutu1uTLnbfE8A5wWbhaY
/YFD6o7FIv2bilbVWGZx2qcF5EzjWNkyQ+AvzE2w1Lx9GSbNUvBl0Abkz18fN1iO
eNCeBRS0+fF9TUlXdjAblDlwDanf+5YGNIT33bdukrg6HHXXiwQA/CFYugTM9OJt
QMV9RxUnwkYIxM59/fW56tdjXDNFFhKAEYO1R4rIlVss+28CBG4VOpAK5AMyVFh0
Pd8RYp7Omh/hOH2fDbJr66oh5C4QsU2XR2lfVc5Y1iCYzI8MA7wveDZE2Rk5pQWY
MYzqHHYNVReX14YYqj04N5KPPaSZJ/0EALYKwd4TY7IoVY0X9tRtfGA6FZXYOVez
1VkiSvhAIa/d5a1tFy/diM3pka8aNwQd8nV5Z2STVCHDiCTGqt1sidYqhoq7BdA7
MJtoiuL/dAKDODf/06I2Xz0AV7syjj45fUMxMtHCdFXO4wB03Mkw6Pz2Ge+dUwHF
sz0IeiWD8Cx4MLzNHkdvb2dsZSBmdXp6IDxmdXp6QGdvb2dsZS50ZXN0PsLAjQQT
AQkAQQWCZ3SFgAWJXfwPAAMLCQcJEF3O17JfXW8vAxUJCAIWAAIZAQKbAwIeARYh
BB4FJxi73dwv9a2H3F3O17JfXW8vAAC71QgAj3aYhZdxrNenDpAIexGqc3e7qp4X
IIqdPIGVi5VuxhBo10WFMzDR45cc/NAdkMrUj05irG/xZuqQ7UgU8e2E5LaybLmq
VzDaiJbB1uU8OK+fPHVp6hhhQYdI6XdNfu11M5fW3zLFWVMswswQSuPSXMQa1DtB
zAuk7i+COwlqZ6/JWAfuh+0LFQg5nfhSIRhgt+w4Bm/lIzjh7mpCYGPU5x3WjVs3
PBWYOb023JYBcHuLnP97xyZCapaU6iSnJwUcO278/tJlCUgkk50M37v9ZLPmYyLN
YOiboD9rt/xO24BIWKxanbBh2AOUswF/R3CcClMhnH41nOrv82nPX3rnqcfC2ARn
dIWAAQgAvbz385XarZAsL3ahf3xsidbCRH80Q1wJFrg8xQh6QwrZagF7LYydHtBO
N0NjfwG+cZPQFr/vCDPP2CGu7+lFw+sZlzo3noZ0Nwyr2OPQ/VKanWw2D0gQnQgo
t43aqibtmoYNORMWHPA0ExlI+h2COsbv6BnNk5MuQaV19daIiObA7I3JnVwikmKz
ZX5H5r0lDzSiF6A/+Rg2Y6xA6KDltKQi37SzSsGw0VLExN+JnvBwiTGEWT2XbXev
uK27GMspU7I4lQ7gDCqCedMJa5jkEbEcmAJCXIYiCajrl2efG3qt27u3NlEpOEPU
5CJg4NmOBBVYAgjfv75Llu8K3q9Y/wARAQABAAf/XcoIuPhE0dG3/bhC6X1MO7CU
c/57C6b1eS0WIQFpSjWVNhDIXkIpMp+eYjPl/VST2pnJ3Uz/78qIvZoc2suxKEDQ
9A+bibmFveZ+Fea7GlWYRyPD7zbcu3raga1VvxEiF2WXKLTWE/TqkNxJVhV7F+nZ
kh4bIA07asjK7/wdnqmyfSdUIizyMmK7RbON8faXA2Ef+kWTaWShkgTu3nP09WlM
ZuOk8DPkdCOix3k8gsUaMJEGvGOepdchJu1/F2wKr0s9TB1fgrpAkCPemB2nD4wT
8hrS7gO99bD2QNT+UKgj3066+1R3CQqTDloJhxp8q9M+gqcoTIUOVD3q/0BSEQQA
wtOw52KEHgSXNYalGWX9MiIWuaBT1gM+BvuLSGWqstRnWy95yzYC7OSorRY086RR
16+xa7+3vq2L9PPMxHjsCeWH7ypbfQ0gfavGYqQULHeofYZJSIB5Px5M/XnDP8zJ
8j2NL/P+oD+N0YNbhDwPBDI7Mf53++nJqgZI61hF8A8EAPlQPWeLznkIGY/AA8w6
uRcDMeHhVuceJFlOxCegTO1yc8YaPVFxrIqTtguhX9+V0AG4WjK0qh8+JYLwSf9A
I0F+oFfL1rubtm/9L/cUO3kYvBBJ18Fc9bB2qHf3OA/QDEX035wDmh2NFphAKsam
gX+20aWaEo1ErSLOKaTK5xgRA/9ZY0H0K8UAcZLpFa2jPUwwLwVoMPRyuxUsxYq+
7cDdANwH1azxMq8XZWJbsitfYa5vGgVXC04WRgFNNhkA7zzLniTEaSF5CQb+larK
FWn1IyeW0MvzGcRmPbaMvkUKPYAPPHlS9REAmJJ6gffY2OcXUuDcg0CE36UeJtcF
/JT2PjpTwsB8BBgBCQAwBYJndIWABYld/A8ACRBdzteyX11vLwKbDBYhBB4FJxi7
3dwv9a2H3F3O17JfXW8vAABAngf/YmpEF6wGvS04dJEEEDNP8JUcN95Y6j/xdRYw
J/UnYMCwyanQCxUaoBnlPNwAqB4u2eU3STLqaZbqneVyPEJbKajIaiLgBHeQrZND
ZrEnKPb9s2KeqIFLt41h2qt0fG14Mr1k/3hws9gf9528+M05ZdXGbJzRNkA1LVtT
Q3JIVa55RjFLOBVmj1IhTKTfvjTSFC6Sdg4GbrDoxd9JC/ZPtfVYifQ48gJDLluM
8BO/E+ttpwqm5Xc9tqI+1OmNivE6ikNnKaiTC/Mih7qBpm+kaAsbSkVpsRX04bgh
PUGznCBNlaF3jms57DAtaR0ncHows5myLVLpVM2gJRMxBdlAGw==
=BoV5
-----END PGP PRIVATE KEY BLOCK-----
`
