// Package api serves the chat's server API over HTTP: what the
// application's backend may do (hub.Control), on a listener of its own
// (wsnode --api-addr), never the connections' port.
//
//	h, err := api.New(api.Config{Control: hb.Control(), Key: key})
//	http.Serve(ln, h)
//
// # Protocol
//
// Every call is POST /api/METHOD with a JSON object as its body (empty for
// the methods without arguments) and the key in X-API-Key: KEY or
// Authorization: apikey KEY. Answers are JSON:
//
//	200 {"result":{...}}
//	4xx, 5xx {"error":{"code":"bad_request","message":"..."}}
//
//	401 unauthorized          the key is missing or wrong (compared in constant time)
//	404 unknown_method        no such METHOD
//	405 method_not_allowed    not a POST
//	413 too_large             a body over MaxBody (64 KiB)
//	400 bad_json              the body is not one JSON object
//	400 bad_request           a field is missing, unknown or not valid
//	404 not_found             delete: no message at that offset
//	503 cluster_unavailable   a cluster-wide call while the node is cut off from the cluster
//	504 timeout               the loops (or the cluster's nodes) did not answer within Timeout
//
// Methods, their arguments and results (TTLs are Go durations, "30s",
// "10m"; times in results are RFC 3339, ts and since milliseconds):
//
//	publish    {"room","text"}                             {}
//	broadcast  {"rooms":[...],"text"}                      {}
//	disconnect {"name"|"user","code"?,"reason"?}           {"disconnected":N}
//	mute       {"name"|"user","room"?,"ttl"}               {"until":T}
//	unmute     {"name"|"user","room"?}                     {"removed":B}
//	ban        {"name"|"user"|"ip","ttl","reason"?}        {"until":T,"disconnected":N}
//	unban      {"name"|"user"|"ip"}                        {"removed":B}
//	bans       {}                                          {"bans":[...],"mutes":[...]}
//	delete     {"room","offset"}                           {"deleted":true}
//	presence   {"room"}                                    {"room","count","members":[{"name","user","node","since"}]}
//	rooms      {}                                          {"rooms":[{"room","count"}]}
//	history    {"room","since"?,"epoch"?,"limit"?}         {"room","epoch","reset"?,"messages":[...]}
//	info       {}                                          {"nodes":[...],"connections","users","rooms"}
//
// The key is never logged, nor any request header.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"edgews/hub"
)

// Defaults used for the zero fields of Config.
const (
	DefaultTimeout = 5 * time.Second
	MaxBody        = 64 << 10
)

// Config configures the API's handler.
type Config struct {
	// Control does what the calls ask (hub.Hub.Control on a single node,
	// hub/cluster's Control in a cluster). Required.
	Control hub.Control
	// Key is the API key every request must carry. Required.
	Key []byte
	// Timeout bounds one call's wait for the loops and the cluster. If
	// zero, DefaultTimeout.
	Timeout time.Duration
	// Observe, if not nil, is called after every call with its method
	// ("" for an unknown one), status and duration: metrics.
	Observe func(method string, status int, d time.Duration)
	// Logger receives a debug line per call (method, status, duration)
	// and a warning per failed one, never the key or headers. If nil,
	// logs are discarded.
	Logger *slog.Logger
}

// handler serves the API.
type handler struct {
	ctl     hub.Control
	keySum  [sha256.Size]byte
	timeout time.Duration
	observe func(string, int, time.Duration)
	log     *slog.Logger
}

// New returns the API's handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Control == nil {
		return nil, errors.New("api: no Control")
	}
	if len(cfg.Key) == 0 {
		return nil, errors.New("api: no key")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{ctl: cfg.Control, keySum: sha256.Sum256(cfg.Key), timeout: cfg.Timeout, observe: cfg.Observe, log: cfg.Logger}, nil
}

// apiError is an error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// method is one API method: it decodes its arguments from the body and
// returns its result.
type method func(ctx context.Context, ctl hub.Control, body []byte) (any, error)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name, _ := strings.CutPrefix(r.URL.Path, "/api/")
	status, err := h.serve(w, r, name)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = classify(err)
		}
		status = ae.status
		writeJSON(w, status, map[string]any{"error": map[string]string{"code": ae.code, "message": ae.message}})
		if status >= 500 {
			h.log.Warn("api: call failed", "method", name, "status", status, "err", ae.message)
		}
	}
	d := time.Since(start)
	if _, known := methods[name]; !known {
		name = ""
	}
	h.log.Debug("api: call", "method", name, "status", status, "duration", d, "remote", r.RemoteAddr)
	if h.observe != nil {
		h.observe(name, status, d)
	}
}

// serve answers one request: the status written, or the error to write.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, name string) (int, error) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `APIKey header="X-API-Key"`)
		return 0, errorf(http.StatusUnauthorized, "unauthorized", "missing or wrong API key (X-API-Key or Authorization: apikey KEY)")
	}
	m, ok := methods[name]
	if !ok || !strings.HasPrefix(r.URL.Path, "/api/") {
		return 0, errorf(http.StatusNotFound, "unknown_method", "unknown method "+quote(name))
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return 0, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return 0, errorf(http.StatusRequestEntityTooLarge, "too_large", "the body is over 64 KiB")
		}
		return 0, errorf(http.StatusBadRequest, "bad_json", "reading the body: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	res, err := m(ctx, h.ctl, body)
	if err != nil {
		return 0, err
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": res})
	return http.StatusOK, nil
}

// authorized compares the request's key with the API's in constant time
// (of the key's length too: the digests are compared).
func (h *handler) authorized(r *http.Request) bool {
	key := r.Header.Get("X-API-Key")
	if key == "" {
		if scheme, k, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "apikey") {
			key = strings.TrimSpace(k)
		}
	}
	if key == "" {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(sum[:], h.keySum[:]) == 1
}

// classify maps a Control error to its answer.
func classify(err error) *apiError {
	var bad hub.BadRequest
	switch {
	case errors.As(err, &bad):
		return errorf(http.StatusBadRequest, "bad_request", string(bad))
	case errors.Is(err, hub.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "no such message")
	case errors.Is(err, hub.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, "cluster_unavailable", "the node cannot reach the cluster now; try again, or another node ("+err.Error()+")")
	case errors.As(err, new(hub.Unanswered)):
		return errorf(http.StatusGatewayTimeout, "timeout", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "timeout", "the node did not finish in time")
	case errors.Is(err, context.Canceled):
		return errorf(499, "canceled", "the request was canceled")
	}
	return errorf(http.StatusInternalServerError, "internal", err.Error())
}

// decode reads body (empty: {}) into v: one JSON object, known fields only.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errorf(http.StatusBadRequest, "bad_json", "the body is not a JSON object: "+err.Error())
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field == "" {
			return errorf(http.StatusBadRequest, "bad_json", "the body is not a JSON object")
		}
		return errorf(http.StatusBadRequest, "bad_request", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "bad_json", "the body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, "bad_json", "the body holds more than one JSON value")
	}
	return nil
}

// ttl reads a TTL argument: a positive Go duration.
func ttl(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, hub.BadRequest(`"ttl" is required: a duration such as "30s" or "10m"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, hub.BadRequest(`"ttl" must be a positive duration, such as "30s" or "10m"`)
	}
	return time.Now().Add(d), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// quote quotes user input for an error, cut to 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
