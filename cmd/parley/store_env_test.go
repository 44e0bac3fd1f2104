package main

import (
	"os"
	"testing"
)

// TestMain keeps the in-process tests of parley serve from writing the
// default file store (.parley/state.db) into the source tree: they run on
// the memory store unless they name another with --store.
func TestMain(m *testing.M) {
	if os.Getenv(envStore) == "" {
		os.Setenv(envStore, "memory:")
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
