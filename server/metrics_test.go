package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/reload"
	"github.com/parleyhq/parley/server"
)

// TestMetricsNamesAndLabels: outcomes are labelled "outcome" everywhere,
// HTTP statuses are numbers, every request is counted and timed by its
// route pattern (never by a path holding a user id), and the build, the
// configuration served and the last reload are exported.
func TestMetricsNamesAndLabels(t *testing.T) {
	_, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL)
	s, base := startServer(t, e, server.Options{Version: "test-1"})
	ctxURL := base + "/api/users/secret-user-42/context"
	do(t, "POST", ctxURL, "", "application/json", `{"key":"first_name","value":"John"}`).ok(t, nil)
	do(t, "POST", ctxURL, "", "application/json", `{"key":"last_name","value":"Smith"}`).ok(t, nil)
	do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat("secret-user-42", "chat_open", "", "")).ok(t, nil)
	do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat("secret-user-42", "button_response", "", "ok")).ok(t, nil)
	do(t, "POST", base+"/incoming/webchat", "", "application/json", `{}`).jsonError(t, 400, server.CodeBadRequest)
	do(t, "GET", base+"/nowhere", "", "", "").jsonError(t, 404, server.CodeNotFound)
	s.ObserveReload(reload.Event{Outcome: reload.Rejected, Time: time.Unix(1700000000, 0)})

	metrics := string(do(t, "GET", base+"/metrics", "", "", "").body)
	for _, want := range []string{
		`parley_actions_total{action="full_name",outcome="success"} 1`,
		`parley_webhook_calls_total{action="full_name",outcome="ok"} 1`,
		`parley_turns_total{outcome="ok"} 2`,
		`parley_http_requests_total{method="POST",route="POST /incoming/webchat",status="200"} 2`,
		`parley_http_requests_total{method="POST",route="POST /incoming/webchat",status="400"} 1`,
		`parley_http_requests_total{method="POST",route="POST /api/users/{id}/context",status="200"} 2`,
		`parley_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`parley_http_request_duration_seconds_count{route="POST /incoming/webchat"} 3`,
		`parley_http_rejected_total{code="bad_request",status="400"} 1`,
		`parley_build_info{goversion="go`,
		`version="test-1"} 1`,
		`parley_config_info{active_scenarios="1",version="` + e.Config().Version + `"} 1`,
		`parley_config_last_reload_successful 0`,
		`parley_config_last_reload_timestamp_seconds 1.7e+09`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, bad := range []string{"secret-user-42", `result="`} {
		if strings.Contains(metrics, bad) {
			t.Errorf("metrics hold %s", bad)
		}
	}
	s.ObserveReload(reload.Event{Outcome: reload.Applied, Time: time.Now()})
	if metrics := string(do(t, "GET", base+"/metrics", "", "", "").body); !strings.Contains(metrics, "parley_config_last_reload_successful 1") {
		t.Error("the last reload's success is not 1 after an applied reload")
	}
}
