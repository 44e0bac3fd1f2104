package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins/store"
)

// Defaults of the new-user rate limit.
const (
	// DefaultNewUserRate is how many new users one client address may
	// create per second.
	DefaultNewUserRate = 10
	// DefaultNewUserBurst is how many new users one client address may
	// create at once.
	DefaultNewUserBurst = 100
	// DefaultNewUserClients bounds how many client addresses' buckets are kept.
	DefaultNewUserClients = 100_000
)

// HistoryResponse is the body of GET /api/users/{id}/history.
type HistoryResponse struct {
	// History holds the user's last turns, oldest first.
	History []store.HistoryEntry `json:"history"`
}

// getHistory handles GET /api/users/{id}/history[?limit=N]: the turns the
// store keeps for the user, oldest first, the newest N with a limit.
func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := s.userID(w, r)
	if !ok {
		return
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.reject(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("limit %q: want a positive number of turns", truncate(v, 20)))
			return
		}
		limit = n
	}
	h, err := s.eng.History(r.Context(), id, limit)
	if err != nil {
		s.contextError(w, err)
		return
	}
	if len(h) == 0 {
		c, err := s.eng.Context(r.Context(), id)
		if err != nil {
			s.contextError(w, err)
			return
		}
		if !known(c) {
			s.reject(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("user %q is unknown: the store keeps no state for it", truncate(id, 100)))
			return
		}
		h = []store.HistoryEntry{}
	}
	writeJSON(w, HistoryResponse{History: h})
}

// deleteUser handles DELETE /api/users/{id}: the user's state and history
// are erased from the store, and the server's traces of the user dropped.
// Deleting an unknown user succeeds as well.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, ok := s.userID(w, r)
	if !ok {
		return
	}
	// The erasure runs to its end even if the client goes away.
	if err := s.eng.Forget(context.WithoutCancel(r.Context()), id); err != nil {
		s.contextError(w, err)
		return
	}
	if s.traces != nil {
		s.traces.users.remove(id)
	}
	s.log.Info("user deleted", slog.String("user", id))
	w.WriteHeader(http.StatusNoContent)
}

// newUserLimited is the error of a turn refused by the new-user rate limit.
type newUserLimited struct{ retryAfter time.Duration }

func (e *newUserLimited) Error() string {
	return "too many new users from this client address"
}

// newUserContext returns ctx with the new-user rate limit of r's client for the turn.
func (s *Server) newUserContext(ctx context.Context, r *http.Request) context.Context {
	if s.newUsers == nil {
		return ctx
	}
	client := s.clientAddr(r)
	return engine.WithNewUserCheck(ctx, func(context.Context, string) error {
		if ok, wait := s.newUsers.allow(client, s.opts.Now()); !ok {
			return &newUserLimited{retryAfter: wait}
		}
		return nil
	})
}

// rejectNewUser answers a turn refused by the new-user rate limit, and
// reports whether err was one.
func (s *Server) rejectNewUser(w http.ResponseWriter, err error) bool {
	var nl *newUserLimited
	if !errors.As(err, &nl) {
		return false
	}
	secs := max(1, int((nl.retryAfter+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.metrics.rateLimitHit.Inc()
	s.reject(w, http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("too many new users from this client address: at most %g per second (bursts of %d); retry in %d s",
			s.opts.NewUserRate, s.opts.NewUserBurst, secs))
	return true
}

// clientAddr returns the address of the client of r: the connection's peer
// or, when the peer is a trusted proxy, the last address of X-Forwarded-For
// that is not a trusted proxy (proxies append the address they received the
// request from, so the addresses before it may be forged by the client).
func (s *Server) clientAddr(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	ip, err := netip.ParseAddr(peer)
	if err != nil || !s.trusted(ip) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// Not an address: nothing before it can be trusted.
				return ip.Unmap().String()
			}
			ip = hop
			if !s.trusted(hop) {
				return hop.Unmap().String()
			}
		}
	}
	return ip.Unmap().String()
}

func (s *Server) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
