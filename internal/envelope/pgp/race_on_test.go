//go:build race

package pgp

// raceEnabled: the race detector slows Go code many times more than the
// assembly under RSA, so timing ratios mean nothing under it.
const raceEnabled = true
