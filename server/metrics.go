package server

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/reload"
)

// Turn outcomes, the label of parley_turns_total.
const (
	TurnOK      = "ok"       // the turn ran and something matched
	TurnNoMatch = "no_match" // the turn ran and nothing matched the utterance
	TurnError   = "error"    // the turn did not happen (engine or store failure)
)

// maxLabelSets bounds the label sets of the per-intent and per-action
// metrics. Their labels come from the configuration, so the bound only
// matters when many reloads rename intents; beyond it they count as "_other".
const maxLabelSets = 5000

// otherLabel replaces label values beyond maxLabelSets.
const otherLabel = "_other"

// metrics are the Prometheus metrics of a Server. Everything is derived from
// each turn's engine.Trace, so the engine knows nothing of Prometheus.
type metrics struct {
	turns       *prometheus.CounterVec
	turnOK      prometheus.Counter
	turnNoMatch prometheus.Counter
	turnError   prometheus.Counter
	turnLatency prometheus.Histogram
	intents     *prometheus.CounterVec
	noMatches   prometheus.Counter
	actions     *prometheus.CounterVec
	calls       *prometheus.CounterVec
	callLatency *prometheus.HistogramVec
	reloads     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	// requests and requestLatency are per route; their children are cached
	// in routeCache (route, method, status) and latencyCache (route).
	requests       *prometheus.CounterVec
	requestLatency *prometheus.HistogramVec
	routeCache     sync.Map // routeKey -> prometheus.Counter
	latencyCache   sync.Map // route -> prometheus.Observer
	intentCache    sync.Map // scenario + "\x00" + intent -> prometheus.Counter
	actionCache    sync.Map // action + "\x00" + result -> prometheus.Counter
	callCache      sync.Map // action + "\x00" + outcome -> *callMetrics
	labelSets      atomic.Int64
	rateLimitHit   prometheus.Counter
}

type callMetrics struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_turns_total",
			Help: "Turns handled, by outcome (ok, no_match, error).",
		}, []string{"outcome"}),
		turnLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_turn_duration_seconds",
			Help:    "Time to run one turn in the engine, actions included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		intents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_intents_selected_total",
			Help: "Intents selected (user and app), by scenario and intent id.",
		}, []string{"scenario", "intent"}),
		noMatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_no_matches_total",
			Help: "Utterances nothing matched (a no-match intent or the default reply answered).",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_actions_total",
			Help: "Actions of turns, by action name and outcome (success, failure, skipped).",
		}, []string{"action", "outcome"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_webhook_calls_total",
			Help: "Outbound calls of actions (webhooks), by action name and outcome.",
		}, []string{"action", "outcome"}),
		callLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_webhook_call_duration_seconds",
			Help:    "Duration of outbound calls of actions (webhooks), retries included, by action name and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"action", "outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_reloads_total",
			Help: "Configuration reload decisions, by outcome (applied, rejected, unchanged).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_rejected_total",
			Help: "HTTP requests answered with an error, by error code and HTTP status.",
		}, []string{"code", "status"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total",
			Help: "HTTP requests, by route (the pattern that matched, or \"unmatched\"), method and HTTP status.",
		}, []string{"route", "method", "status"}),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route (the pattern that matched, or \"unmatched\").",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		rateLimitHit: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_rate_limited_total",
			Help: "Webchat requests refused by the per-user rate limit.",
		}),
	}
	m.turnOK = m.turns.WithLabelValues(TurnOK)
	m.turnNoMatch = m.turns.WithLabelValues(TurnNoMatch)
	m.turnError = m.turns.WithLabelValues(TurnError)
	for _, o := range []string{reload.Applied.String(), reload.Rejected.String(), reload.Unchanged.String()} {
		m.reloads.WithLabelValues(o)
	}
	for _, c := range []prometheus.Collector{m.turns, m.turnLatency, m.intents, m.noMatches, m.actions,
		m.calls, m.callLatency, m.reloads, m.rejected, m.rateLimitHit, m.requests, m.requestLatency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// defaultRegistry returns a registry with the Go runtime and process collectors.
func defaultRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// labelled returns the cached child of a vector for two label values,
// creating it while fewer than maxLabelSets exist.
func (m *metrics) labelled(cache *sync.Map, a, b string, create func(a, b string) any) any {
	key := a + "\x00" + b
	if v, ok := cache.Load(key); ok {
		return v
	}
	if m.labelSets.Add(1) > maxLabelSets {
		m.labelSets.Add(-1)
		a, b, key = otherLabel, otherLabel, otherLabel+"\x00"+otherLabel
		if v, ok := cache.Load(key); ok {
			return v
		}
	}
	v, _ := cache.LoadOrStore(key, create(a, b))
	return v
}

// observeTurn records the metrics of one turn from its trace.
func (m *metrics) observeTurn(tr *engine.Trace) {
	m.turnLatency.Observe(tr.Duration.Seconds())
	noMatch := false
	for i := range tr.Selections {
		sel := &tr.Selections[i]
		if strings.HasPrefix(sel.From, "no match") {
			noMatch = true
		}
		if sel.Chosen == "" {
			continue
		}
		for j := range sel.Candidates {
			c := &sel.Candidates[j]
			if c.Outcome != engine.OutcomeChosen {
				continue
			}
			ctr := m.labelled(&m.intentCache, c.Scenario, c.Intent, func(a, b string) any {
				return m.intents.WithLabelValues(a, b)
			}).(prometheus.Counter)
			ctr.Inc()
			break
		}
	}
	if !noMatch {
		for _, ev := range tr.Events {
			if strings.HasPrefix(ev, "nothing matched") {
				noMatch = true
				break
			}
		}
	}
	if noMatch {
		m.noMatches.Inc()
		m.turnNoMatch.Inc()
	} else {
		m.turnOK.Inc()
	}
	for i := range tr.Actions {
		a := &tr.Actions[i]
		result := "failure"
		switch {
		case a.Skipped:
			result = "skipped"
		case a.Success:
			result = "success"
		}
		m.labelled(&m.actionCache, a.Action, result, func(x, y string) any {
			return m.actions.WithLabelValues(x, y)
		}).(prometheus.Counter).Inc()
		for j := range a.Calls {
			c := &a.Calls[j]
			cm := m.labelled(&m.callCache, a.Action, c.Outcome, func(x, y string) any {
				return &callMetrics{count: m.calls.WithLabelValues(x, y), latency: m.callLatency.WithLabelValues(x, y)}
			}).(*callMetrics)
			cm.count.Inc()
			cm.latency.Observe(c.Duration.Seconds())
		}
	}
}

// observeReload counts one reload decision.
func (m *metrics) observeReload(ev reload.Event) {
	m.reloads.WithLabelValues(ev.Outcome.String()).Inc()
}

// routeKey identifies a child of parley_http_requests_total.
type routeKey struct {
	route, method string
	status        int
}

// maxRouteSets bounds the label sets of the per-route metrics; routes are
// the server's own patterns, and methods beyond the usual ones count as
// "other", so the bound is never reached in practice.
const maxRouteSets = 1000

// observeRequest counts one answered request and its duration.
func (m *metrics) observeRequest(route, method string, status int, seconds float64) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		method = "other" // a client chooses the method: keep the label set bounded
	}
	k := routeKey{route, method, status}
	c, ok := m.routeCache.Load(k)
	if !ok {
		if m.labelSets.Add(1) > maxLabelSets+maxRouteSets {
			m.labelSets.Add(-1)
			k = routeKey{otherLabel, otherLabel, 0}
		}
		c, _ = m.routeCache.LoadOrStore(k, m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)))
	}
	c.(prometheus.Counter).Inc()
	o, ok := m.latencyCache.Load(route)
	if !ok {
		o, _ = m.latencyCache.LoadOrStore(route, m.requestLatency.WithLabelValues(route))
	}
	o.(prometheus.Observer).Observe(seconds)
}

// infoCollector exports parley_build_info, parley_config_info and the last
// reload's gauges, read at each scrape from the server's state.
type infoCollector struct {
	s                                 *Server
	build, config, reloadOK, reloadAt *prometheus.Desc
	buildLabels                       []string
}

func newInfoCollector(s *Server) *infoCollector {
	version, revision := s.opts.Version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" {
				revision = st.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
	}
	return &infoCollector{
		s: s,
		build: prometheus.NewDesc("parley_build_info", "The running binary: always 1, with its version, commit and Go version as labels.",
			[]string{"version", "revision", "goversion"}, nil),
		config: prometheus.NewDesc("parley_config_info", "The configuration being served: always 1, with its version and its number of active scenarios as labels.",
			[]string{"version", "active_scenarios"}, nil),
		reloadOK: prometheus.NewDesc("parley_config_last_reload_successful", "Whether the last reload decision applied the files (1) or rejected them (0); absent before the first.",
			nil, nil),
		reloadAt: prometheus.NewDesc("parley_config_last_reload_timestamp_seconds", "When the last reload was decided, in Unix seconds; absent before the first.",
			nil, nil),
		buildLabels: []string{version, revision, runtime.Version()},
	}
}

func (c *infoCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.build
	ch <- c.config
	ch <- c.reloadOK
	ch <- c.reloadAt
}

func (c *infoCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, c.buildLabels...)
	if cfg := c.s.eng.Config(); cfg != nil {
		active := 0
		for _, sc := range cfg.Scenarios {
			if sc.Active {
				active++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.config, prometheus.GaugeValue, 1, cfg.Version, strconv.Itoa(active))
	}
	if ev, ok := c.s.lastReload(); ok {
		v := 0.0
		if ev.Outcome != reload.Rejected {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.reloadOK, prometheus.GaugeValue, v)
		if !ev.Time.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.reloadAt, prometheus.GaugeValue, float64(ev.Time.UnixNano())/1e9)
		}
	}
}
