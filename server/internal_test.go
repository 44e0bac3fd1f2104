package server

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
)

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	l := newLRU[int](lruShards) // one entry per shard
	create := func(v int) func() int { return func() int { return v } }
	// Find two keys of the same shard.
	a := "a"
	b := ""
	for i := 0; b == ""; i++ {
		if k := fmt.Sprint("k", i); l.shard(k) == l.shard(a) {
			b = k
		}
	}
	l.with(a, create(1), func(int) {})
	l.with(b, create(2), func(int) {})
	if l.with(a, nil, func(int) {}) {
		t.Fatal("a was not evicted by b in a full shard")
	}
	var got int
	if !l.with(b, nil, func(v int) { got = v }) || got != 2 {
		t.Fatalf("b: %d", got)
	}
	for i := 0; i < 10*lruShards; i++ {
		l.with(fmt.Sprint("user", i), create(i), func(int) {})
	}
	if n := l.len(); n > lruShards {
		t.Fatalf("%d entries, want at most %d", n, lruShards)
	}
}

func TestLRUOrder(t *testing.T) {
	l := newLRU[int](3 * lruShards)
	s := l.shard("x")
	var keys []string
	for i := 0; len(keys) < 4; i++ {
		if k := fmt.Sprint("k", i); l.shard(k) == s {
			keys = append(keys, k)
		}
	}
	for i, k := range keys[:3] {
		l.with(k, func() int { return i }, func(int) {})
	}
	l.with(keys[0], nil, func(int) {}) // keys[0] is now the most recent
	l.with(keys[3], func() int { return 3 }, func(int) {})
	if !l.with(keys[0], nil, func(int) {}) || l.with(keys[1], nil, func(int) {}) {
		t.Fatal("the least recently used entry was not the one evicted")
	}
}

func TestLimitersAreBounded(t *testing.T) {
	l := newLimiters(1, 1, lruShards)
	now := time.Unix(1000, 0)
	if ok, _ := l.allow("u", now); !ok {
		t.Fatal("first turn refused")
	}
	ok, wait := l.allow("u", now)
	if ok || wait != time.Second {
		t.Fatalf("second turn: %v %v", ok, wait)
	}
	if ok, _ := l.allow("u", now.Add(time.Second)); !ok {
		t.Fatal("turn after a second refused")
	}
	for i := 0; i < 1000; i++ {
		l.allow(fmt.Sprint("user", i), now)
	}
	if n := l.users.len(); n > lruShards {
		t.Fatalf("%d buckets kept", n)
	}
}

func TestTraceRing(t *testing.T) {
	ts := newTraceStore(3, 10)
	if _, ok := ts.list("u"); ok {
		t.Fatal("unknown user has traces")
	}
	for i := 0; i < 7; i++ {
		ts.add("u", &engine.Trace{Utterance: engine.Utterance{Text: fmt.Sprint(i)}})
		got, _ := ts.list("u")
		want := max(0, i-2)
		if len(got) != min(i+1, 3) || got[0].Utterance.Text != fmt.Sprint(want) || got[len(got)-1].Utterance.Text != fmt.Sprint(i) {
			t.Fatalf("after %d: %v", i, got)
		}
	}
}

func TestAppendAnswerIsJSON(t *testing.T) {
	one, two := 1, 9
	form := &dsl.Form{Callback: "f", Fields: []dsl.FormField{
		{Name: "a", Type: "text", Min: &one, Max: &two, Default: "d"},
		{Name: "b", Type: "select", Options: []dsl.Option{{Value: "x", Label: "X"}}},
		{Name: "c", Type: "auto-select", Options: []dsl.Option{{Value: "y", Label: "Y"}}}}}
	msgs := []engine.Message{{Intent: "a", Text: "x \"y\""},
		{Intent: "b", Text: "z", Buttons: []engine.Button{{Text: "OK", Callback: "ok", Value: "v<"}, {Text: "No"}, {Text: "L", Link: "https://x"}, {Text: "D", Download: true}}},
		{Intent: "c", Type: "image", Image: &dsl.Image{Src: "s"}},
		{Intent: "d", Type: "rich", Text: "a&b", Title: "t", Image: &dsl.Image{Src: "s"}, Buttons: []engine.Button{{Text: "OK", Callback: "ok"}}},
		{Intent: "e", Type: "list", Items: []engine.Message{{Text: "i"}, {Type: "image", Image: &dsl.Image{Src: "s"}}}},
		{Intent: "f", Type: "form", Form: form},
		{Intent: "g", Type: "long_text", LongText: &dsl.LongText{CharacterLimit: 5}},
		{Intent: "h", Type: "empty"},
	}
	b := appendAnswer(nil, msgs, time.Date(2024, 12, 24, 9, 5, 0, 0, time.UTC))
	var out []any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if len(out) != len(msgs) || out[len(out)-1] != false {
		t.Fatalf("%s", b)
	}
	for i, m := range out[:len(out)-1] {
		d := m.(map[string]any)["data"].(map[string]any)
		if d["internal"] != true || d["hidetime"] != true || d["time"] != "09:05 AM" || d["date"] != "Tue 24 Dec" {
			t.Errorf("message %d: %v", i, d)
		}
	}
	if string(appendAnswer(nil, nil, time.Now())) != "[false]\n" {
		t.Fatal("no messages must be the empty message, [false]")
	}
	single := appendAnswer(nil, msgs[:1], time.Date(2024, 12, 24, 9, 5, 0, 0, time.UTC))
	if single[0] != '{' {
		t.Fatalf("one message must be a bare object: %s", single)
	}
}
