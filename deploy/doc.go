// Package deploy holds what an operator deploys beside the otpgate binary:
// Prometheus alerting rules (prometheus/otpgate-rules.yml, with their promtool
// unit tests) and a Grafana dashboard (grafana/otpgate-dashboard.json). It has
// no code; its tests check those files against the real Prometheus (Debian's
// prometheus package: prometheus and promtool) and a running otpgate.
package deploy
