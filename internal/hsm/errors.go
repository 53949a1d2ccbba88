package hsm

import "errors"

// ErrNotBuilt is Open's error in a binary built without the pkcs11 tag. It
// says how to build one that has it.
var ErrNotBuilt = errors.New("hsm: this otpgate was built without PKCS#11 support, so it cannot use keys in an HSM " +
	"(the default build is pure Go and needs no C compiler); build one with it: " +
	"CGO_ENABLED=1 go build -tags pkcs11 ./cmd/otpgate (or go install -tags pkcs11 ./cmd/otpgate), which needs a C compiler (apt-get install gcc)")
