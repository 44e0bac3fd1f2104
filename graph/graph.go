// Package graph is the model of a configuration's conversations as a graph:
// conversations, scenes and turns holding intents, with edges for what can
// follow what (answers, valid origins, transitions, virtual intents and
// buttons) and which intents a conversation can reach at all.
//
// The model is computed once from a compiled dsl.Config by walking the
// engine's selection rules (see engine/select.go and engine/turn.go)
// abstractly, ignoring conditions: an intent is reachable when some sequence
// of utterances could make it a candidate. `parley graph`, `parley diff`, the
// lints of `parley validate` and test coverage all read this one model.
package graph

import (
	"slices"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/dsl"
)

// Edge kinds.
const (
	// EdgeStart leads from a scenario's start to an intent a conversation may begin with.
	EdgeStart = "start"
	// EdgeAnswer leads from an intent to an app intent that may answer it.
	EdgeAnswer = "answer"
	// EdgeOrigin leads from an intent to a request intent of a turn that lists it in valid_origins.
	EdgeOrigin = "origin"
	// EdgeTransition leads from an intent to an intent of the turn, scene or conversation it moves to.
	EdgeTransition = "transition"
	// EdgeVirtual leads from an app intent to the user intent it runs next.
	EdgeVirtual = "virtual"
	// EdgeButton leads from an app intent to the intent a press of one of its buttons selects.
	EdgeButton = "button"
)

// Graph is the conversation structure of a configuration, scenarios in name order.
type Graph struct {
	Scenarios []*Scenario `json:"scenarios"`
}

// Scenario is one scenario's structure and edges.
type Scenario struct {
	Name string `json:"name"`
	// ID is a stable node id, safe in Mermaid and DOT.
	ID            string          `json:"id"`
	Active        bool            `json:"active"`
	Conversations []*Conversation `json:"conversations"`
	// Actions are the declared actions, by name, in name order.
	Actions []string `json:"actions,omitempty"`
	// Edges in a stable order: by source intent in declaration order, then kind, then target.
	Edges []Edge `json:"edges"`

	src     *dsl.Scenario
	intents []*Intent // declaration order
	byDSL   map[*dsl.Intent]*Intent
	byID    map[string]*Intent
	turns   map[*dsl.Turn]*Turn
	walk    *walker
}

// Conversation is a conversation and its scenes.
type Conversation struct {
	Name      string   `json:"name"`
	ID        string   `json:"id"`
	Behaviors []string `json:"behaviors,omitempty"`
	Reachable bool     `json:"reachable"`
	Scenes    []*Scene `json:"scenes"`
}

// Scene is a scene and its turns.
type Scene struct {
	Name      string   `json:"name"`
	ID        string   `json:"id"`
	Behaviors []string `json:"behaviors,omitempty"`
	Reachable bool     `json:"reachable"`
	Turns     []*Turn  `json:"turns"`
}

// Turn is a turn and its intents, request intents first.
type Turn struct {
	Name         string    `json:"name"`
	ID           string    `json:"id"`
	Behaviors    []string  `json:"behaviors,omitempty"`
	ValidOrigins []string  `json:"valid_origins,omitempty"`
	Reachable    bool      `json:"reachable"`
	Intents      []*Intent `json:"intents"`
	// Pos is where the turn is declared, as file:line:col.
	Pos string `json:"-"`

	// Src is the compiled turn.
	Src *dsl.Turn `json:"-"`
}

// Intent is one intent of a turn.
type Intent struct {
	// ID is the node id, unique in the graph.
	ID string `json:"id"`
	// Intent is the intent's id as declared.
	Intent string `json:"intent"`
	// Role is "request" or "response".
	Role    string `json:"role"`
	Speaker string `json:"speaker"`
	// Actions names the actions the intent runs, in order.
	Actions []string `json:"actions,omitempty"`
	// Starting: the intent is a candidate when no conversation is under way.
	Starting bool `json:"starting,omitempty"`
	// Completing: saying the intent ends the conversation.
	Completing bool `json:"completing,omitempty"`
	Reachable  bool `json:"reachable"`
	// Pos is where the intent is declared, as file:line:col.
	Pos string `json:"-"`

	// Src is the compiled intent.
	Src *dsl.Intent `json:"-"`
}

// Edge is a directed edge between two intents (From is the scenario's ID for EdgeStart).
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
	// Label is the button's text (as written) for EdgeButton.
	Label string `json:"label,omitempty"`
}

// New computes the graph of cfg.
func New(cfg *dsl.Config) *Graph {
	g := &Graph{Scenarios: make([]*Scenario, 0, len(cfg.Scenarios))}
	for _, s := range cfg.Scenarios {
		g.Scenarios = append(g.Scenarios, newScenario(s))
	}
	return g
}

// Scenario returns the scenario named name, or nil.
func (g *Graph) Scenario(name string) *Scenario {
	for _, s := range g.Scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Intent returns the node of a compiled intent of any scenario, or nil:
// what test coverage marks when a conversation test selects the intent.
func (g *Graph) Intent(in *dsl.Intent) *Intent {
	if in == nil || in.Turn == nil {
		return nil
	}
	s := g.Scenario(in.Turn.Scene.Conversation.Scenario.Name)
	if s == nil {
		return nil
	}
	return s.Intent(in)
}

// Intent returns the node of a compiled intent, or nil.
func (s *Scenario) Intent(in *dsl.Intent) *Intent { return s.byDSL[in] }

// Node returns the intent with node id id, or nil.
func (s *Scenario) Node(id string) *Intent { return s.byID[id] }

// Intents returns every intent of the scenario in declaration order.
func (s *Scenario) Intents() []*Intent { return s.intents }

// Turn returns the node of a compiled turn, or nil.
func (s *Scenario) Turn(t *dsl.Turn) *Turn { return s.turns[t] }

// Src returns the compiled scenario.
func (s *Scenario) Src() *dsl.Scenario { return s.src }

func newScenario(src *dsl.Scenario) *Scenario {
	s := &Scenario{Name: src.Name, ID: "s_" + escape(src.Name), Active: src.Active, src: src,
		byDSL: map[*dsl.Intent]*Intent{}, byID: map[string]*Intent{}, turns: map[*dsl.Turn]*Turn{}}
	for name := range src.Actions {
		s.Actions = append(s.Actions, name)
	}
	slices.Sort(s.Actions)
	for _, c := range src.Conversations {
		gc := &Conversation{Name: c.Name, ID: "c_" + join(src.Name, c.Name), Behaviors: c.Behaviors.Names()}
		s.Conversations = append(s.Conversations, gc)
		for _, sc := range c.Scenes {
			gs := &Scene{Name: sc.Name, ID: "sc_" + join(src.Name, c.Name, sc.Name), Behaviors: sc.Behaviors.Names()}
			gc.Scenes = append(gc.Scenes, gs)
			for _, t := range sc.Turns {
				gt := &Turn{Name: t.Name, ID: "t_" + join(src.Name, c.Name, sc.Name, t.Name), Behaviors: t.Behaviors.Names(),
					ValidOrigins: t.ValidOrigins, Pos: t.Pos, Src: t}
				gs.Turns = append(gs.Turns, gt)
				s.turns[t] = gt
				for _, list := range [][]*dsl.Intent{t.Request, t.Response} {
					for _, in := range list {
						gi := &Intent{Intent: in.ID, Role: roleName(in.Role), Speaker: in.Speaker, Pos: in.Pos, Src: in,
							Completing: completing(in)}
						// An intent id unique in its scenario names its node, so the id
						// stays when the intent moves; others are named by their turn too.
						base := "i_" + join(src.Name, in.ID)
						if len(src.Intents(in.ID)) != 1 {
							base = "i_" + join(src.Name, c.Name, sc.Name, t.Name, in.ID)
							if in.Role == dsl.Response {
								base += "__r"
							}
						}
						gi.ID = base
						for n := 2; s.byID[gi.ID] != nil; n++ {
							gi.ID = base + "__" + strconv.Itoa(n)
						}
						for _, call := range in.Actions {
							gi.Actions = append(gi.Actions, call.Action.Name)
						}
						gt.Intents = append(gt.Intents, gi)
						s.intents = append(s.intents, gi)
						s.byDSL[in] = gi
						s.byID[gi.ID] = gi
					}
				}
			}
		}
	}
	s.walk = newWalker(src)
	s.walk.run()
	s.walk.explored = len(s.walk.appKeys)
	for in := range s.walk.reached {
		s.byDSL[in].Reachable = true
	}
	for _, in := range s.walk.userCands(state{}, "") {
		s.byDSL[in].Starting = true
	}
	for _, c := range s.Conversations {
		for _, sc := range c.Scenes {
			for _, t := range sc.Turns {
				for _, in := range t.Intents {
					t.Reachable = t.Reachable || in.Reachable
				}
				sc.Reachable = sc.Reachable || t.Reachable
			}
			c.Reachable = c.Reachable || sc.Reachable
		}
	}
	s.Edges = s.edges()
	return s
}

// completing reports whether saying in ends the conversation.
func completing(in *dsl.Intent) bool {
	return in.Completing || in.ID == dsl.IntentEndChat || (in.Role == dsl.Response && in.Turn.Behaviors.Has(dsl.Completing))
}

func roleName(r dsl.Role) string {
	if r == dsl.Response {
		return "response"
	}
	return "request"
}

// escape makes a name safe as a node id: letters and digits stay, '_' becomes
// "_u", '.' "_d", '-' "_h" and anything else "_xNN"; so "__" never appears
// in an escaped name and can join them.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '_':
			b.WriteString("_u")
		case c == '.':
			b.WriteString("_d")
		case c == '-':
			b.WriteString("_h")
		default:
			const hex = "0123456789abcdef"
			b.WriteString("_x")
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func join(parts ...string) string {
	for i, p := range parts {
		parts[i] = escape(p)
	}
	return strings.Join(parts, "__")
}
