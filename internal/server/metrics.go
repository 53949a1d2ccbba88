package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpgate/otpgate/internal/sms"
)

// Metrics are the server's Prometheus metrics, on a registry of their own so
// that two servers in one process (tests) do not collide.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	smsSends *prometheus.CounterVec
}

// NewMetrics registers the metrics, with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_requests_total",
			Help: "Requests answered, by method, result (or error code) and HTTP status.",
		}, []string{"method", "result", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otpgate_request_duration_seconds",
			Help:    "Time from reading a request to writing its answer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method"}),
		smsSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_sms_sends_total",
			Help: "SMS handed to a provider, by provider and outcome (accepted or failed).",
		}, []string{"provider", "outcome"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.smsSends,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry lets other parts (key expiry, later) add their metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(method, result string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, result, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method).Observe(took.Seconds())
}

// InstrumentSender counts the sends of s by outcome.
func (m *Metrics) InstrumentSender(s sms.Sender) sms.Sender {
	return instrumentedSender{Sender: s, sends: m.smsSends}
}

type instrumentedSender struct {
	sms.Sender
	sends *prometheus.CounterVec
}

func (i instrumentedSender) Send(ctx context.Context, msg sms.Message) error {
	err := i.Sender.Send(ctx, msg)
	outcome := "accepted"
	if err != nil {
		outcome = "failed"
	}
	i.sends.WithLabelValues(i.Name(), outcome).Inc()
	return err
}
