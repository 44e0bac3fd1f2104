package graph

import (
	"slices"

	"github.com/parleyhq/parley/dsl"
)

var kindOrder = map[string]int{EdgeStart: 0, EdgeAnswer: 1, EdgeTransition: 2, EdgeVirtual: 3, EdgeButton: 4, EdgeOrigin: 5}

// edges computes the scenario's edges in a stable order.
func (s *Scenario) edges() []Edge {
	w := s.walk
	index := map[string]int{s.ID: -1}
	for i, in := range s.intents {
		index[in.ID] = i
	}
	seen := map[Edge]bool{}
	var out []Edge
	add := func(from string, to *dsl.Intent, kind, label string) {
		e := Edge{From: from, To: s.byDSL[to].ID, Kind: kind, Label: label}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for _, in := range w.userCands(state{}, "") {
		add(s.ID, in, EdgeStart, "")
	}
	for _, gi := range s.intents {
		in := gi.Src
		nx := next(in)
		if completing(in) && in.Speaker == "app" {
			nx = state{}
		}
		moved := in.Transition != nil && nx.kind == atEnter
		kind := EdgeAnswer
		if moved {
			kind = EdgeTransition
		}
		if in.Speaker == "user" {
			for _, c := range w.appCandidates(next(in)) {
				add(gi.ID, c.Intent, kind, "")
			}
			continue
		}
		if moved {
			for _, c := range w.userCandidates(nx, "") {
				add(gi.ID, c.Intent, kind, "")
			}
			for _, c := range w.appCandidates(nx) {
				add(gi.ID, c.Intent, kind, "")
			}
		} else if in.Role == dsl.Request && nx.kind == atAfter {
			for _, c := range w.userCandidates(nx, "") {
				add(gi.ID, c.Intent, EdgeAnswer, "")
			}
		}
		if in.Virtual != "" {
			for _, v := range w.virtual(nx, in.Virtual) {
				add(gi.ID, v, EdgeVirtual, "")
			}
		}
		if in.Message != nil {
			for _, b := range in.Message.Buttons {
				if b.Callback == "" {
					continue
				}
				label := ""
				if b.Text != nil {
					label = b.Text.Source
				}
				for _, v := range s.ButtonTargets(in, b.Callback) {
					add(gi.ID, v, EdgeButton, label)
				}
			}
		}
	}
	for _, gi := range s.intents {
		t := gi.Src.Turn
		if gi.Src.Role != dsl.Request {
			continue
		}
		for _, o := range t.ValidOrigins {
			for _, from := range s.src.Intents(o) {
				add(s.byDSL[from].ID, gi.Src, EdgeOrigin, "")
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Edge) int {
		if d := index[a.From] - index[b.From]; d != 0 {
			return d
		}
		if d := kindOrder[a.Kind] - kindOrder[b.Kind]; d != 0 {
			return d
		}
		return index[a.To] - index[b.To]
	})
	return out
}

// ButtonTargets returns the intents a press of a button with callback, shown by
// app intent out, may select: the user intents with that id that are
// candidates where the user speaks next after out.
// A callback the scenario's callbacks map (OpenDialog's supported_callbacks)
// means the intent it maps to, as the engine reads it.
func (s *Scenario) ButtonTargets(out *dsl.Intent, callback string) []*dsl.Intent {
	if to, ok := s.src.Callbacks[callback]; ok {
		callback = to
	}
	var res []*dsl.Intent
	for _, st := range s.walk.statesAfter(out) {
		for _, in := range s.walk.userCands(st, callback) {
			if !slices.Contains(res, in) {
				res = append(res, in)
			}
		}
		for _, in := range s.walk.noMatch(st) {
			if in.ID == callback && !slices.Contains(res, in) {
				res = append(res, in)
			}
		}
	}
	return res
}

// CanPrecede reports whether an intent with id id can be the last intent
// when the user speaks next, as a valid origin must be: some intent with that
// id is a response (or a user intent of a turn's responses) that neither
// transitions nor completes the conversation.
func (s *Scenario) CanPrecede(id string) bool {
	for _, in := range s.src.Intents(id) {
		if in.Role == dsl.Response && next(in).kind == atAfter && !completing(in) {
			return true
		}
	}
	return false
}

// UserCandidateSets returns the user intents that are candidates together at
// each position a conversation can reach, in exploration order.
func (s *Scenario) UserCandidateSets() [][]*dsl.Intent {
	var out [][]*dsl.Intent
	for _, st := range s.walk.order {
		if c := s.walk.userCands(st, ""); len(c) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// AppCandidateSets returns the app intents that are candidates together at
// each position the app answers from, in the order the engine tries them.
func (s *Scenario) AppCandidateSets() [][]Candidate {
	var out [][]Candidate
	for _, st := range s.walk.appKeys[:s.walk.explored] {
		if c := s.walk.appSets[st]; len(c) > 0 {
			out = append(out, c)
		}
	}
	return out
}
