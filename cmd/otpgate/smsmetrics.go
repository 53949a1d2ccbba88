package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/internal/sms"
)

// smsMetrics are the SMS router's and the providers' metrics, besides
// otpgate_sms_sends_total{provider,outcome}, which the server counts.
type smsMetrics struct {
	duration *prometheus.HistogramVec
	skipped  *prometheus.CounterVec
	delivery *prometheus.CounterVec
}

func newSMSMetrics() *smsMetrics {
	return &smsMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otpgate_sms_send_duration_seconds",
			Help:    "Time a provider took to accept or refuse an SMS, by provider and outcome (accepted or failed).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"provider", "outcome"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_sms_skipped_total",
			Help: "SMS not handed to a provider of their route, by provider and reason: breaker (its circuit breaker is open) or cap (--sms-max-per-minute reached).",
		}, []string{"provider", "reason"}),
		delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_sms_delivery_total",
			Help: "Delivery receipts (SMPP) and status callbacks (Twilio), by provider and status: delivered, undelivered, expired, rejected, failed, … Telemetry only: they never change what verifyOtp answers.",
		}, []string{"provider", "status"}),
	}
}

// observe records one provider of a route, tried or skipped.
func (m *smsMetrics) observe(a sms.Attempt) {
	if a.Skipped != "" {
		m.skipped.WithLabelValues(a.Provider, a.Skipped).Inc()
		return
	}
	outcome := "accepted"
	if a.Err != nil {
		outcome = "failed"
	}
	m.duration.WithLabelValues(a.Provider, outcome).Observe(a.Took.Seconds())
}

// collectors are the metrics to register, with a gauge of each provider's
// breaker state read at every scrape.
func (m *smsMetrics) collectors(r *sms.Router) []prometheus.Collector {
	cs := []prometheus.Collector{m.duration, m.skipped, m.delivery}
	for _, name := range r.Providers() {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "otpgate_sms_breaker_state",
			Help:        "State of a provider's circuit breaker: 0 closed, 1 half-open (one SMS probes it), 2 open (skipped).",
			ConstLabels: prometheus.Labels{"provider": name},
		}, func() float64 { return float64(r.BreakerState(name)) }))
	}
	return cs
}
