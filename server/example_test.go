package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing/fstest"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/server"
)

// A server over an engine answers OpenDialog webchat requests.
func Example() {
	scenario := `scenarios: hello: conversations: main: {
	behaviors: ["starting"]
	scenes: main: {
		behaviors: ["starting"]
		turns: hi: {
			behaviors: ["starting"]
			request: [{id: "intent.core.welcome"}]
			response: [{id: "hi", message: text: "Hello!"}]
		}
	}
}`
	clock := func() time.Time { return time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC) }
	e, err := engine.OpenFS(fstest.MapFS{"hello.cue": {Data: []byte(scenario)}}, engine.WithClock(clock))
	if err != nil {
		panic(err)
	}
	defer e.Close()
	s, err := server.New(e, server.Options{Location: time.UTC})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	resp, err := http.Post(hs.URL+"/incoming/webchat", "application/json",
		strings.NewReader(`{"notification":"message","user_id":"u1","content":{"type":"chat_open"}}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// 200 {"author":"them","type":"text","intent":"hi","data":{"text":"Hello!","disable_text":false,"internal":false,"hidetime":false,"hideavatar":false,"time":"09:30 AM","date":"Wed 1 May"}}
}
