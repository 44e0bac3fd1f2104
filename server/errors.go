package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/parleyhq/parley/plugins/store"
)

// Error codes of JSON error responses.
const (
	CodeBadRequest           = "bad_request"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeTooLarge             = "too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeUnprocessable        = "unprocessable"
	CodeRateLimited          = "rate_limited"
	CodeInternal             = "internal"
	CodeUnavailable          = "unavailable"
	CodeConflict             = "conflict"
)

// storeFailure maps a store failure behind an engine error to an answer:
// 503 while the store cannot be reached (Redis away), 409 while another
// replica runs a turn of the same user (it holds the user's lease) or
// changed the user's state meanwhile. Either way the turn did not happen
// and may be sent again. ok is false for any other error.
func storeFailure(err error) (status int, code, message string, ok bool) {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, CodeUnavailable, "the state store is unavailable; nothing was changed, retry in a moment", true
	case errors.Is(err, store.ErrLeaseHeld), errors.Is(err, store.ErrConflict):
		return http.StatusConflict, CodeConflict, "another turn of this user is in progress (on another replica); nothing was changed, retry", true
	}
	return 0, "", "", false
}

// rejectStore answers a store failure (see storeFailure) with Retry-After
// and logs it; it reports false, answering nothing, for other errors.
func (s *Server) rejectStore(w http.ResponseWriter, what string, err error) bool {
	status, code, message, ok := storeFailure(err)
	if !ok {
		return false
	}
	s.log.Warn(what+": store failure", slog.Int("status", status), slog.Any("error", err))
	w.Header().Set("Retry-After", "1")
	s.reject(w, status, code, message)
	return true
}

// ErrorBody is the JSON body of every 4xx and 5xx response:
// {"error":{"code":"...","message":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers status with a JSON error.
func writeError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "encoding the response: "+err.Error())
		return
	}
	b = append(b, '\n')
	writeJSONBytes(w, http.StatusOK, b)
}

// Header values shared by every JSON answer; net/http never modifies them.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noSniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
)

// writeJSONBytes answers status with the JSON b. It sets the headers
// without allocating (this is on the hot path) and leaves Content-Length
// to net/http, which sets it for bodies written at once.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
