package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/gsp"
	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms"
)

// Metrics are the server's Prometheus metrics, on a registry of their own so
// that two servers in one process (tests) do not collide.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	smsSends *prometheus.CounterVec
	shed     prometheus.Counter
	queued   prometheus.Gauge
	inFlight prometheus.Gauge
	panics   prometheus.Counter
	lockouts *prometheus.CounterVec
	ready    sync.Once // registers otpgate_ready once, for the first server's database
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
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otpgate_shed_total",
			Help: "Requests answered 503 at once because --max-in-flight requests were at work and none finished within --queue-wait.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "otpgate_queued_requests",
			Help: "Requests waiting for one of the --max-in-flight slots.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "otpgate_in_flight_requests",
			Help: "Requests of Google's methods being served (their body read, their answer not yet written).",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otpgate_panics_total",
			Help: "Handlers that panicked; each was answered 503 and logged at ERROR with its stack.",
		}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_budget_lockouts_total",
			Help: "Requests refused because a send or failure budget of the account or its phone was spent (--send-limit, --fail-limit): no SMS sent, or the guess not compared; by method. Replays are not counted again.",
		}, []string{"method"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.smsSends, m.shed, m.queued, m.inFlight, m.panics, m.lockouts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// budgetMethods are the methods a spent budget can refuse.
var budgetMethods = map[string]bool{gsp.MethodSendOtp: true, gsp.MethodVerifyOtp: true,
	gsp.MethodAuthenticate: true, gsp.MethodCardVerifyOtp: true, gsp.MethodResendOtp: true}

// notMatchedResults are the results of a wrong code, by method: what
// OtpgateVerifyFailureSpike selects.
var notMatchedResults = map[string]string{gsp.MethodVerifyOtp: "OTP_NOT_MATCHED", gsp.MethodCardVerifyOtp: "otpNotMatched"}

// unavailableResults are every result answered 503: what
// Otpgate5xxRatioHigh selects.
var unavailableResults = []string{string(gsp.ServiceUnavailable), resultShed, resultBodyTimeout, resultPanic}

// served starts at 0, for a method served, its lockout count and the
// request series the alerts select (a wrong code, a 503), for the same
// reason as InstrumentSender's: else the first failure after a restart
// creates its series and no rate sees it.
func (m *Metrics) served(method string) {
	if budgetMethods[method] {
		m.lockouts.WithLabelValues(method)
	}
	if result, ok := notMatchedResults[method]; ok {
		m.requests.WithLabelValues(method, result, strconv.Itoa(http.StatusOK))
	}
	for _, result := range unavailableResults {
		m.requests.WithLabelValues(method, result, strconv.Itoa(http.StatusServiceUnavailable))
	}
}

// lockedOut counts a request a budget refused.
func (m *Metrics) lockedOut(method string, out otp.Outcome) {
	if out.LockedOut {
		m.lockouts.WithLabelValues(method).Inc()
	}
}

// watchReady exports otpgate_ready: 1 when the database answers a ping at
// the scrape, 0 otherwise, as /readyz would answer. A scrape is when an
// alert needs to know, and a ping costs a round trip, no query.
func (m *Metrics) watchReady(db Pinger) {
	if db == nil {
		return
	}
	m.ready.Do(func() {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "otpgate_ready",
			Help: "1 when the database answered a ping at this scrape (as GET /readyz: 200), 0 when not (503).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			if db.Ping(ctx) != nil {
				return 0
			}
			return 1
		}))
	})
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(method, result string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, result, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method).Observe(took.Seconds())
}

// InstrumentSender counts the sends of s by outcome. Both outcomes start at
// 0: a rate or increase in an alert sees the first failure only when the
// series existed before it.
func (m *Metrics) InstrumentSender(s sms.Sender) sms.Sender {
	m.smsSends.WithLabelValues(s.Name(), "accepted")
	m.smsSends.WithLabelValues(s.Name(), "failed")
	return instrumentedSender{Sender: s, sends: m.smsSends}
}

type instrumentedSender struct {
	sms.Sender
	sends *prometheus.CounterVec
}

func (i instrumentedSender) Send(ctx context.Context, msg sms.Message) error {
	_, err := i.SendID(ctx, msg)
	return err
}

// SendID passes on the provider's id of the message ("" when it gives
// none), so that its delivery receipts can be matched to the code.
func (i instrumentedSender) SendID(ctx context.Context, msg sms.Message) (string, error) {
	rc, err := sms.Submit(ctx, i.Sender, msg)
	outcome := "accepted"
	if err != nil {
		outcome = "failed"
	}
	i.sends.WithLabelValues(i.Name(), outcome).Inc()
	return rc.MessageID, err
}

// WatchKeys exports the envelope's keys, evaluated at each scrape so that a
// key drifting into its last 30 days shows without a restart:
// otpgate_key_expiry_timestamp_seconds (0 for never), otpgate_key_active and
// otpgate_key_expiring_soon.
func (m *Metrics) WatchKeys(keys func() []envelope.KeyInfo) {
	m.registry.MustRegister(keyCollector(keys))
}

var (
	keyLabels     = []string{"scheme", "owner", "id", "usage"}
	keyExpiryDesc = prometheus.NewDesc("otpgate_key_expiry_timestamp_seconds",
		"When the key expires, in Unix seconds; 0 for never.", keyLabels, nil)
	keyActiveDesc = prometheus.NewDesc("otpgate_key_active",
		"1 when the key is usable now.", keyLabels, nil)
	keySoonDesc = prometheus.NewDesc("otpgate_key_expiring_soon",
		"1 when the key is active and expires within 30 days.", keyLabels, nil)
)

type keyCollector func() []envelope.KeyInfo

func (keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyExpiryDesc
	ch <- keyActiveDesc
	ch <- keySoonDesc
}

func (k keyCollector) Collect(ch chan<- prometheus.Metric) {
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, key := range k() {
		labels := []string{key.Scheme, key.Owner, key.ID, key.Usage}
		expiry := 0.0
		if !key.Expires.IsZero() {
			expiry = float64(key.Expires.Unix())
		}
		ch <- prometheus.MustNewConstMetric(keyExpiryDesc, prometheus.GaugeValue, expiry, labels...)
		ch <- prometheus.MustNewConstMetric(keyActiveDesc, prometheus.GaugeValue, flag(key.Active), labels...)
		ch <- prometheus.MustNewConstMetric(keySoonDesc, prometheus.GaugeValue, flag(key.ExpiringSoon), labels...)
	}
}
