// Package deploy holds what an operator deploys beside the otpgate binary:
// Prometheus alerting rules (prometheus/otpgate-rules.yml, with their promtool
// unit tests), a Grafana dashboard (grafana/otpgate-dashboard.json) and a
// systemd unit (systemd/, tested with the command in cmd/otpgate). It has no
// code; its tests check the rules and the dashboard against the real
// Prometheus (Debian's prometheus package: prometheus and promtool) and a
// running otpgate.
package deploy
