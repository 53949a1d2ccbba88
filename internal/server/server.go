// Package server is otpgate's HTTP face: the routes of both dialects, the
// request pipeline (size limit → envelope → decode → domain → encode → seal),
// the mapping of domain errors to Google's ErrorResponse, health and metrics.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/gsp"
	"github.com/otpgate/otpgate/internal/otp"
)

// DefaultMaxBodyBytes is the request size limit of SPEC §2.
const DefaultMaxBodyBytes = 64 << 10

// Pinger reports whether the database answers (for /readyz).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config builds a Server.
type Config struct {
	BasePath     string // "" or "/prefix"
	Codec        envelope.Codec
	OTP          *otp.Service
	DB           Pinger
	Metrics      *Metrics
	Logger       *slog.Logger
	Now          func() time.Time
	Window       time.Duration // requestTimestamp window, ±
	MaxBodyBytes int64
	// ParsePhone canonicalises an E.164 mobile number or rejects it.
	ParsePhone func(string) (string, error)

	// India Cards (current dialect): the paymentIntegratorAccountIds served,
	// the card number hasher and the eci to answer a successful verifyOtp
	// with ("" for none). The sessions' policy is OTP's (otp.Policy.Cards).
	PIAIDs []string
	Cards  otp.CardHasher
	ECI    string
	// AuthenticateShapes writes the two cases of an authenticate response
	// (nil: the defaults of gsp.AuthenticateShape); CvnResult is its
	// cvnResult ("": CVN_RESULT_NOT_DETERMINED).
	AuthenticateShapes *gsp.AuthenticateShapes
	CvnResult          gsp.CvnResult

	// Surfaces are the Google APIs served (see SelectSurfaces); nil serves
	// them all.
	Surfaces []*Surface

	// MaxInFlight bounds the requests of Google's methods at work at once
	// (envelope, store, sealing; not the wait for an SMS provider when the
	// messenger is wrapped in ReleaseSlotWhileSending); 0 means no bound. A
	// request that finds them all busy waits up to QueueWait for a slot, then
	// is answered 503, which Google retries; one that finds more waiting
	// than could get a slot within QueueWait is answered 503 at once.
	MaxInFlight int
	QueueWait   time.Duration
}

// Server serves the routes.
type Server struct {
	cfg         Config
	piaids      map[string]bool
	log         *slog.Logger
	mux         *http.ServeMux // Google's routes, health
	admin       *http.ServeMux // health, metrics, pprof
	limit       *limiter       // nil: no bound
	lastWarning atomic.Int64   // unix seconds of the last plaintext warning
}

// New builds a Server; Handler returns its routes.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Window <= 0 {
		cfg.Window = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.AuthenticateShapes == nil {
		cfg.AuthenticateShapes, _ = gsp.NewAuthenticateShapes(nil) // the defaults are valid
	}
	if cfg.CvnResult == "" {
		cfg.CvnResult = gsp.CvnNotDetermined
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), admin: http.NewServeMux(), piaids: map[string]bool{},
		limit: newLimiter(cfg.MaxInFlight, cfg.QueueWait, func(n int) { cfg.Metrics.queued.Set(float64(n)) })}
	for _, id := range cfg.PIAIDs {
		s.piaids[id] = true
	}
	for _, rt := range s.routes() {
		s.mux.Handle("POST "+cfg.BasePath+rt.path, s.method(rt.surface, rt.method, rt.handler))
		cfg.Metrics.served(rt.method)
	}
	// Load balancers probe either port; neither probe is ever shed.
	for _, mux := range []*http.ServeMux{s.mux, s.admin} {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "ok\n")
		})
		mux.HandleFunc("GET /readyz", s.readyz)
	}
	cfg.Metrics.watchReady(cfg.DB)
	// Metrics name key ids and expiries and count results, and pprof shows
	// memory: neither belongs on the port Google reaches.
	s.admin.Handle("GET /metrics", cfg.Metrics.handler())
	s.admin.HandleFunc("/debug/pprof/", pprof.Index)
	s.admin.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.admin.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.admin.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return s
}

// Handler serves Google's routes, /healthz and /readyz: the port Google
// calls.
func (s *Server) Handler() http.Handler { return s.recoverer(s.mux) }

// AdminHandler serves /healthz, /readyz, /metrics and Go's pprof under
// /debug/pprof/: a port for operators only.
func (s *Server) AdminHandler() http.Handler { return s.recoverer(s.admin) }

// readyTimeout bounds the database ping of /readyz and otpgate_ready.
const readyTimeout = 2 * time.Second

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.cfg.DB.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "error", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// call is one request in flight through the pipeline.
type call struct {
	id        string // our id for the call: paymentIntegratorErrorIdentifier, logs
	method    string
	surface   *Surface
	now       time.Time
	requestID string // Google's, once decoded
}

// reply is what a method handler produced: a 200 body, or an error.
type reply struct {
	body   any    // marshalled to JSON and sealed
	result string // for logs and metrics
}

// handlerFunc runs one method on an opened body.
type handlerFunc func(ctx context.Context, c *call, plaintext []byte) (reply, error)

// Results of answers that are not the method's, for logs and metrics.
const (
	resultShed        = "SHED"         // every slot busy: 503 at once
	resultBodyTimeout = "BODY_TIMEOUT" // the body did not arrive within the read timeout: 503
	resultPanic       = "PANIC"        // the handler panicked: 503
)

// method wraps a handler in the pipeline shared by every method.
func (s *Server) method(sf *Surface, name string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.cfg.Metrics.inFlight.Inc()
		c := &call{id: otp.NewID(), method: name, surface: sf, now: s.cfg.Now()}
		status, result := http.StatusServiceUnavailable, resultPanic
		defer func() {
			s.cfg.Metrics.inFlight.Dec()
			took := time.Since(start)
			s.cfg.Metrics.observe(name, result, status, took)
			// A 503 is expected now and then (a duplicate still in flight, a
			// provider hiccup, a moment of overload) and Google retries it;
			// the cause of a real fault is logged at ERROR where it happens.
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelWarn
			}
			s.log.Log(r.Context(), level, "request", "id", c.id, "method", name, "surface", sf.Name, "dialect", string(sf.Dialect),
				"requestId", c.requestID, "result", result, "status", status, "ms", float64(took.Microseconds())/1000)
		}()
		tw := &trackingWriter{ResponseWriter: w}
		defer s.recoverCall(tw, c, &status, &result)
		status, result = s.serve(tw, w, r, c, h)
	})
}

// serve runs the pipeline; w is the original writer of tw, which only the
// body's size limit needs.
func (s *Server) serve(tw *trackingWriter, w http.ResponseWriter, r *http.Request, c *call, h handlerFunc) (status int, result string) {
	s.warnPlaintext()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return s.fail(tw, c, gsp.Errorf(gsp.InvalidDecryptedRequest, "the request body exceeds the limit of %d bytes", tooBig.Limit))
		}
		if isTimeout(err) {
			// Nothing says the request was wrong, only slow: a 503, which
			// Google retries with the same requestId (a 400 would tell it
			// not to). Google's lists have no 408.
			s.log.Warn("the request body did not arrive within the read timeout", "id", c.id, "method", c.method, "error", err)
			status, _ := s.fail(tw, c, gsp.Unavailable("the request body did not arrive in time; retry with the same requestId"))
			return status, resultBodyTimeout
		}
		return s.fail(tw, c, gsp.Errorf(gsp.InvalidDecryptedRequest, "the request body could not be read"))
	}
	ctx := r.Context()
	if s.limit != nil {
		// Taken once the body is in: a slow sender holds a connection, not a
		// slot.
		if !s.limit.acquire(ctx) {
			// Bare: sealing an ErrorResponse costs the signature the
			// overload cannot afford, and SPEC §3 allows an empty body.
			s.cfg.Metrics.shed.Inc()
			tw.WriteHeader(http.StatusServiceUnavailable)
			return http.StatusServiceUnavailable, resultShed
		}
		sl := &slot{l: s.limit}
		sl.take()
		defer func() {
			if sl.held {
				sl.give()
			}
		}()
		ctx = withSlot(ctx, sl)
	}
	return s.work(ctx, tw, c, h, body)
}

// isTimeout reports whether reading failed on a deadline (the server's
// read timeout) rather than on a broken connection.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// work opens the body, runs the method and answers.
func (s *Server) work(ctx context.Context, w http.ResponseWriter, c *call, h handlerFunc, body []byte) (status int, result string) {
	plaintext, err := s.cfg.Codec.Open(body)
	if err != nil {
		// The reason (key ids, the failing check) helps during a rotation and
		// holds no secret; the caller gets none of it.
		s.log.Warn("the envelope refused the body", "id", c.id, "method", c.method, "error", err)
	}
	switch {
	case errors.Is(err, envelope.ErrBadSignature):
		// An unknown caller learns nothing: status only (SPEC §3).
		w.WriteHeader(http.StatusUnauthorized)
		return http.StatusUnauthorized, string(gsp.InvalidPayloadSignature)
	case err != nil:
		return s.fail(w, c, gsp.Errorf(gsp.InvalidPayloadEncryption, "the body could not be decrypted with any of our keys"))
	}
	rep, err := h(ctx, c, plaintext)
	if err != nil {
		return s.fail(w, c, err)
	}
	out, err := json.Marshal(rep.body)
	if err != nil {
		return s.fail(w, c, err)
	}
	if !s.write(w, c, http.StatusOK, out) {
		return http.StatusServiceUnavailable, string(gsp.ServiceUnavailable)
	}
	return http.StatusOK, rep.result
}

// fail answers an error with an ErrorResponse: a *gsp.Error as itself, any
// other error as a temporary outage (503), after which Google retries.
func (s *Server) fail(w http.ResponseWriter, c *call, err error) (int, string) {
	var ge *gsp.Error
	if !errors.As(err, &ge) {
		s.log.Error("request failed", "id", c.id, "method", c.method, "error", err)
		ge = gsp.Unavailable("temporarily unable to process the request; retry with the same requestId")
	}
	var resp any = gsp.NewLegacyErrorResponse(ge, s.cfg.Now(), c.id)
	if c.surface.Dialect == Current {
		resp = gsp.NewCurrentErrorResponse(ge, s.cfg.Now(), c.id)
	}
	body, _ := json.Marshal(resp)
	status := ge.Code.HTTPStatus()
	if !s.write(w, c, status, body) {
		return http.StatusServiceUnavailable, string(gsp.ServiceUnavailable)
	}
	return status, string(ge.Code)
}

// write seals and writes a body. It reports false when sealing failed, in
// which case a bare 503 went out instead.
func (s *Server) write(w http.ResponseWriter, c *call, status int, plaintext []byte) bool {
	sealed, err := s.cfg.Codec.Seal(plaintext)
	if err != nil {
		s.log.Error("sealing the response failed", "id", c.id, "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	w.Header().Set("Content-Type", s.cfg.Codec.ContentType())
	w.WriteHeader(status)
	w.Write(sealed)
	return true
}

// warnPlaintext repeats the plaintext warning at most once a minute while
// requests arrive, so that it cannot scroll out of sight in a long log.
func (s *Server) warnPlaintext() {
	if s.cfg.Codec.Name() != (envelope.Plain{}).Name() {
		return
	}
	now := time.Now().Unix()
	last := s.lastWarning.Load()
	if now-last >= 60 && s.lastWarning.CompareAndSwap(last, now) {
		s.log.Warn("serving PLAINTEXT request bodies: development only, Google never sends these (--insecure-plaintext)")
	}
}

// trackingWriter remembers whether the answer's header went out, so that a
// panic is answered only when nothing was.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(status int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(status)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// recoverCall, deferred, turns a panic of a method into a 503 that Google
// retries, logged at ERROR with the call's id and the stack; the process
// and the connection live on.
func (s *Server) recoverCall(w *trackingWriter, c *call, status *int, result *string) {
	if !s.recovered(recover(), "id", c.id, "method", c.method, "requestId", c.requestID) {
		return
	}
	*status, *result = http.StatusServiceUnavailable, resultPanic
	if w.wrote {
		return // too late for another answer; the client sees a short one
	}
	defer func() {
		if recover() != nil && !w.wrote { // sealing panicked too: status only
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}()
	s.fail(w, c, gsp.Unavailable("temporarily unable to process the request; retry with the same requestId"))
}

// recovered counts and logs v, what a deferred recover of a handler
// returned, with attrs naming the call, and reports whether it was a panic.
// It panics again with http.ErrAbortHandler, net/http's own way to abort a
// response.
func (s *Server) recovered(v any, attrs ...any) bool {
	if v == nil {
		return false
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.cfg.Metrics.panics.Inc()
	s.log.Error("handler panicked", append(attrs, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
	return true
}

// recoverer answers a panic of any other route (health, metrics, pprof)
// with a 503 and logs it, instead of net/http's dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			if s.recovered(recover(), "path", r.URL.Path) && !tw.wrote {
				http.Error(tw, "temporarily unavailable", http.StatusServiceUnavailable)
			}
		}()
		next.ServeHTTP(tw, r)
	})
}

// ErrorLog routes what net/http logs itself (TLS handshake failures, bad
// requests it refuses before any handler) to logger at WARN, as JSON like
// every other line, naming the listener.
func ErrorLog(logger *slog.Logger, listener string) *log.Logger {
	return log.New(errorLogWriter{logger: logger, listener: listener}, "", 0)
}

type errorLogWriter struct {
	logger   *slog.Logger
	listener string
}

func (e errorLogWriter) Write(p []byte) (int, error) {
	e.logger.Warn("http server", "listener", e.listener, "error", strings.TrimSpace(string(p)))
	return len(p), nil
}
