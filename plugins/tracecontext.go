package plugins

import "context"

type traceParentKey struct{}

// ContextWithTraceParent returns ctx carrying a W3C trace context: the
// traceparent header value of the request that led to the turn (parley
// serve takes it from the webchat request). Plugins that call other
// services propagate it (the webhook action sends it as traceparent). An
// invalid value is ignored and ctx returned as it is.
//
// Parley records no spans of its own, so the trace context is passed on
// unchanged; a version other than 00 is passed on as version 00, as the W3C
// recommendation asks.
func ContextWithTraceParent(ctx context.Context, traceparent string) context.Context {
	tp, ok := normalizeTraceParent(traceparent)
	if !ok {
		return ctx
	}
	return context.WithValue(ctx, traceParentKey{}, tp)
}

// TraceParentFromContext returns the traceparent stored by ContextWithTraceParent.
func TraceParentFromContext(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(traceParentKey{}).(string)
	return s, ok
}

// normalizeTraceParent validates a traceparent "VV-<32 hex>-<16 hex>-<2 hex>"
// (version 00 exactly so; a later version may carry more fields after a
// dash) and returns it as version 00.
func normalizeTraceParent(s string) (string, bool) {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return "", false
	}
	ver, tid, pid, fl := s[0:2], s[3:35], s[36:52], s[53:55]
	if !isLowerHex(ver) || ver == "ff" || !isLowerHex(tid) || !isLowerHex(pid) || !isLowerHex(fl) {
		return "", false
	}
	if tid == "00000000000000000000000000000000" || pid == "0000000000000000" {
		return "", false
	}
	if ver == "00" {
		if len(s) != 55 {
			return "", false
		}
		return s, true
	}
	if len(s) > 55 && s[55] != '-' {
		return "", false
	}
	return "00" + s[2:55], true
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
