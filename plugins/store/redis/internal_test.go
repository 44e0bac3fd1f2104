package redis

import (
	"context"
	"net/url"
	"testing"

	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/redis/redistest"
)

// TestRetriedSaveIsNotAConflict runs the save script twice with one save
// id, as a client retrying after a lost reply does: the second run reports
// the first's success instead of a conflict, and stores nothing more.
func TestRetriedSaveIsNotAConflict(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	u, _ := url.Parse(srv.URL(""))
	s, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := s.keys("u")
	for try := 0; try < 2; try++ {
		res, err := saveScript.Run(ctx, s.client, k[:], 0, `{"turn":"t"}`, `{"config_version":"v1"}`, 10, 0, "", 0, "save-1").Int64Slice()
		if err != nil || res[0] != resOK || res[1] != 1 {
			t.Fatalf("try %d: %v, %v", try, res, err)
		}
	}
	if h, _ := s.History(ctx, "u", 0); len(h) != 1 {
		t.Fatalf("history has %d entries after a retried save", len(h))
	}
	res, err := saveScript.Run(ctx, s.client, k[:], 0, `{}`, "", 10, 0, "", 0, "save-2").Int64Slice()
	if err != nil || res[0] != resConflict {
		t.Fatalf("another save from version 0 = %v, %v; want a conflict", res, err)
	}
}
