package engine_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/all" // webhook actions for the generated scenarios
)

// writeShop writes generated scenario i at revision rev: two conversations,
// webhook actions with mappings, conditions, templates, patterns and a
// transition (the shape of the dsl and reload packages' benchmarks).
func writeShop(dir string, i, rev int) error {
	name := fmt.Sprintf("shop%04d", i)
	src := fmt.Sprintf(`package scenarios

// revision %[3]d
scenarios: %[1]s: {
	description: "Order desk number %[2]d"
	attributes: {
		order_id:   "string"
		party_size: "int"
		vip:        "bool"
	}
	actions: {
		lookup: {
			webhook: {
				url: "https://orders.example.com/v1/orders/{{ secret.ORDER_TOKEN }}"
				headers: Authorization: "Bearer {{ secret.ORDER_TOKEN }}"
				timeout: "2s"
			}
			inputs: ["order_id", "customer"]
			outputs: ["status", "eta", "items"]
		}
		full_name: {
			webhook: url: "https://people.example.com/opendialog"
			inputs: ["first_name", "last_name"]
			outputs: ["full_name"]
		}
	}
	conversations: {
		welcome: {
			behaviors: ["starting"]
			scenes: main: {
				behaviors: ["starting"]
				turns: {
					welcome: {
						behaviors: ["starting"]
						request: [{id: "intent.core.welcome"}]
						response: [{
							id: "welcome_response"
							actions: [{use: "full_name"}]
							message: {
								text: "Hello {{ user.full_name ?? \"there\" }}! How can I help with order desk %[2]d?"
								buttons: [{text: "Track an order", callback: "track"}, {text: "Book", callback: "book"}]
							}
						}]
					}
					track: {
						valid_origins: ["welcome_response"]
						request: [{
							id: "track"
							utterances: ["where is my order", "track my order", "order status"]
							patterns: ["(?i)order (?P<order_id>[A-Z0-9-]{6,})"]
							expected_attributes: order_id: "user.order_id"
							conditions: ["user.order_id != \"\" || utterance.text != \"\""]
							actions: [{
								use: "lookup"
								inputs: {order_id: "user.order_id", customer: "user.first_name + \" \" + (user.last_name ?? \"\")"}
								outputs: {
									"session.status": "output.status"
									"user.eta":       "output.eta ?? \"unknown\""
									"session.count":  "len(output.items ?? [])"
								}
							}]
						}]
						response: [
							{id: "shipped", conditions: ["user.action_status", "session.status == \"shipped\""], message: text: "Order {{ user.order_id }} has shipped and arrives {{ user.eta }}.", behaviors: ["completing"]},
							{id: "delayed", conditions: ["user.action_status && session.status == \"delayed\""], message: text: "Order {{ user.order_id }} is delayed; {{ session.count }} items are waiting."},
							{id: "lookup_failed", message: text: "Sorry, I could not find order {{ user.order_id }}.", behaviors: ["completing"]},
						]
					}
					no_match: {
						behaviors: ["open"]
						request: [{id: "intent.core.TurnNoMatch"}]
						response: [{id: "no_match_response", message: text: "Sorry, I did not get that ({{ utterance.text }})."}]
					}
				}
			}
		}
		booking: {
			behaviors: ["open"]
			conditions: ["!user.vip || user.party_size < 20"]
			scenes: {
				ask: {
					behaviors: ["starting"]
					turns: size: {
						valid_origins: ["welcome_response"]
						request: [{
							id: "book"
							patterns: ["(?i)table for (?P<party_size>\\d+)( at (?P<time>\\d{1,2}(:\\d\\d)?\\s*(am|pm)?))?"]
							utterances: ["book a table"]
							expected_attributes: {party_size: "user.party_size", time: "session.time"}
							transition: scene: "confirm"
						}]
						response: [{id: "ask_time", conditions: ["session.time == nil"], message: text: "For {{ user.party_size }} people; what time?"}]
					}
				}
				confirm: turns: done: {
					request: [{id: "confirm", utterances: ["yes", "confirm"], confidence: 0.8}]
					response: [{id: "confirmed", message: text: "Booked for {{ user.party_size }} at {{ session.time }}.", behaviors: ["completing"], transition: conversation: "welcome"}]
				}
			}
		}
	}
}
`, name, i, rev)
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "main.cue"), []byte(src), 0o644)
}

// benchWatchWriteToLive measures, through an engine opened with WithWatch,
// the time from a file write to the new version being live (the reload
// event received): the debounce, the watcher's scan, the incremental load and
// the swap. A turn then checks that it runs on the new version; its own time
// is reported apart (ms/first-turn).
func benchWatchWriteToLive(b *testing.B, dir string, env *plugins.Environment, edit func(rev int) error) {
	e, err := engine.Open(dir, engine.WithEnvironment(env), engine.WithWatch(engine.WatchOptions{}))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	events, cancel := e.Watcher().Subscribe()
	defer cancel()
	var total, applying, turn time.Duration
	n := 0
	for rev := 1; b.Loop(); rev++ {
		start := time.Now()
		if err := edit(rev); err != nil {
			b.Fatal(err)
		}
		ev := applied(b, events)
		live := time.Since(start)
		// A turn (of an utterance that runs no action) on the new version.
		r, err := e.Handle(context.Background(), "bench", plugins.Utterance{Type: plugins.Text, Text: "no such words"})
		if err != nil || r.Trace.ConfigVersion != ev.Version {
			b.Fatalf("turn after reload: %v, version %s, want %s", err, r.Trace.ConfigVersion, ev.Version)
		}
		total += live
		turn += time.Since(start) - live
		applying += ev.Duration
		n++
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms/write-to-live")
	b.ReportMetric(float64(applying.Microseconds())/float64(n)/1000, "ms/scan+load")
	b.ReportMetric(float64(turn.Microseconds())/float64(n)/1000, "ms/first-turn")
}

// BenchmarkWatchWriteToLiveExamples edits one file of a copy of the example
// scenarios (../scenarios). Target: under 150ms.
func BenchmarkWatchWriteToLiveExamples(b *testing.B) {
	dir := b.TempDir()
	var target string
	err := os.CopyFS(dir, os.DirFS("../scenarios"))
	if err == nil {
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && target == "" && !d.IsDir() && strings.HasSuffix(p, ".cue") && dsl.IsScenarioFile(d.Name()) {
				target = p
			}
			return err
		})
	}
	if err != nil || target == "" {
		b.Skipf("no example scenarios in ../scenarios (%v)", err)
	}
	original, err := os.ReadFile(target)
	if err != nil {
		b.Fatal(err)
	}
	benchWatchWriteToLive(b, dir, plugins.Global(), func(rev int) error {
		return os.WriteFile(target, fmt.Appendf(append([]byte(nil), original...), "\n// revision %d\n", rev), 0o644)
	})
}

// BenchmarkWatchWriteToLive1000 edits one of 1,000 generated scenarios.
// Target: under 1s.
func BenchmarkWatchWriteToLive1000(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		if err := writeShop(dir, i, 0); err != nil {
			b.Fatal(err)
		}
	}
	benchWatchWriteToLive(b, dir, plugins.Global(), func(rev int) error {
		return writeShop(dir, rev%1000, rev)
	})
}
