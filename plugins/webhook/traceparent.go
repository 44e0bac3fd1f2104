package webhook

import (
	"context"
	"encoding/hex"
)

type traceParentKey struct{}

// ContextWithTraceParent returns ctx carrying a W3C traceparent header value,
// typically the one of the incoming request that led to this turn. Calls made
// with the context continue that trace: the outbound traceparent keeps its
// trace id and flags with a fresh parent id. An invalid value is ignored.
func ContextWithTraceParent(ctx context.Context, traceparent string) context.Context {
	if _, _, ok := parseTraceParent(traceparent); !ok {
		return ctx
	}
	return context.WithValue(ctx, traceParentKey{}, traceparent)
}

// TraceParentFromContext returns the traceparent stored by ContextWithTraceParent.
func TraceParentFromContext(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(traceParentKey{}).(string)
	return s, ok
}

// parseTraceParent splits a version-00 traceparent "00-<32 hex>-<16 hex>-<2 hex>".
func parseTraceParent(s string) (traceID, flags string, ok bool) {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return "", "", false
	}
	ver, tid, pid, fl := s[0:2], s[3:35], s[36:52], s[53:55]
	if !isLowerHex(ver) || ver == "ff" || !isLowerHex(tid) || !isLowerHex(pid) || !isLowerHex(fl) {
		return "", "", false
	}
	if tid == "00000000000000000000000000000000" || pid == "0000000000000000" {
		return "", "", false
	}
	if ver == "00" && len(s) != 55 {
		return "", "", false
	}
	return tid, fl, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// outboundTraceParent returns the traceparent of one outbound call, from 24 random bytes: the
// context's trace continued with a new parent id, or a new trace (not
// sampled: Parley records no spans itself) when the context has none.
func outboundTraceParent(ctx context.Context, b [24]byte) string {
	traceID, flags := "", "00"
	if tp, ok := TraceParentFromContext(ctx); ok {
		traceID, flags, _ = parseTraceParent(tp)
	}
	if traceID == "" {
		traceID = hex.EncodeToString(b[:16])
	}
	return "00-" + traceID + "-" + hex.EncodeToString(b[16:]) + "-" + flags
}
