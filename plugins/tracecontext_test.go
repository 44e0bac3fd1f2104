package plugins_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/plugins"
)

func TestTraceParent(t *testing.T) {
	const v00 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for in, want := range map[string]string{
		v00: v00,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":           v00,
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-else": v00,
	} {
		got, ok := plugins.TraceParentFromContext(plugins.ContextWithTraceParent(context.Background(), in))
		if !ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{
		"",
		"junk",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
		v00 + "-extra", // version 00 has four fields
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
	} {
		ctx := context.Background()
		if got := plugins.ContextWithTraceParent(ctx, bad); got != ctx {
			t.Errorf("%q was stored", bad)
		}
	}
}
