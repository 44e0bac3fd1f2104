package convtest

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/graph"
	"github.com/parleyhq/parley/plugins"
)

// Coverage categories, in report order.
const (
	CatUserIntents    = "user intents"
	CatAppIntents     = "app intents"
	CatTurns          = "turns"
	CatButtonsOffered = "buttons offered"
	CatButtonsPressed = "buttons pressed"
	CatConditions     = "conditions"
	CatActionOutcomes = "action outcomes"
	CatNoMatch        = "no-match intents"
)

// Categories lists the coverage categories in report order.
var Categories = []string{CatUserIntents, CatAppIntents, CatTurns, CatButtonsOffered, CatButtonsPressed,
	CatConditions, CatActionOutcomes, CatNoMatch}

// Coverage says which parts of the scenarios the tests exercised. Items come
// from the compiled configurations: every user and app intent (no-match
// intents apart), turn, button (offered, and pressed), condition (seen true,
// and seen false), action (a success, and a failure) and no-match intent.
type Coverage struct {
	Total     Count              `json:"total"`
	Scenarios []ScenarioCoverage `json:"scenarios"`
}

// Count is a number of covered items out of a total.
type Count struct {
	Covered int     `json:"covered"`
	Total   int     `json:"total"`
	Percent float64 `json:"percent"`
}

func (c *Count) add(covered bool) {
	c.Total++
	if covered {
		c.Covered++
	}
}

func (c *Count) finish() {
	c.Percent = 100
	if c.Total > 0 {
		c.Percent = float64(c.Covered) * 100 / float64(c.Total)
	}
}

// String renders the count as "96.2% (51/53)".
func (c Count) String() string {
	return fmt.Sprintf("%s (%d/%d)", pct(c.Percent), c.Covered, c.Total)
}

func pct(p float64) string {
	// Never round up to 100%: 99.96% is not full coverage.
	s := strconv.FormatFloat(float64(int(p*10))/10, 'f', 1, 64)
	return s + "%"
}

// ScenarioCoverage is the coverage of one scenario.
type ScenarioCoverage struct {
	Name       string           `json:"name"`
	Total      Count            `json:"total"`
	Categories map[string]Count `json:"categories"`
	// Uncovered lists every item the tests missed, at its position.
	Uncovered []Item `json:"uncovered"`
}

// Item is one coverage item.
type Item struct {
	Category string `json:"category"`
	Pos      string `json:"pos"`
	What     string `json:"what"`
}

// item is an item being counted.
type item struct {
	Item
	covered bool
}

type scenarioItems struct {
	name  string
	items []*item
	byKey map[string]*item
}

func (s *scenarioItems) add(cat, pos, what, key string) {
	if _, dup := s.byKey[key]; dup {
		return
	}
	it := &item{Item: Item{Category: cat, Pos: pos, What: what}}
	s.items = append(s.items, it)
	s.byKey[key] = it
}

func (s *scenarioItems) hit(key string) {
	if it := s.byKey[key]; it != nil {
		it.covered = true
	}
}

// coverage collects items and hits.
type coverage struct {
	scenarios map[string]*scenarioItems
	order     []string
}

func isNoMatch(id string) bool {
	switch id {
	case dsl.IntentTurnNoMatch, dsl.IntentSceneNoMatch, dsl.IntentConversationNoMatch, dsl.IntentNoMatch:
		return true
	}
	return false
}

func intentKey(in *dsl.Intent) string     { return "intent " + in.Pos }
func turnKey(t *dsl.Turn) string          { return "turn " + t.Pos }
func offeredKey(b *dsl.Button) string     { return "offered " + b.Pos }
func pressedKey(b *dsl.Button) string     { return "pressed " + b.Pos }
func condKey(pos string, val bool) string { return "condition " + pos + " " + strconv.FormatBool(val) }
func actionKey(a *dsl.Action, ok bool) string {
	return "action " + a.Pos + " " + a.Name + " " + strconv.FormatBool(ok)
}

// enumerate adds the items of cfg, from its conversation graph (package
// graph: the model `parley graph`, diff and the lints read too). An item the
// graph finds unreachable says so: no test can cover it.
func (c *coverage) enumerate(cfg *dsl.Config) {
	for _, gs := range graph.New(cfg).Scenarios {
		sc := gs.Src()
		s := c.scenarios[sc.Name]
		if s == nil {
			s = &scenarioItems{name: sc.Name, byKey: map[string]*item{}}
			c.scenarios[sc.Name] = s
			c.order = append(c.order, sc.Name)
		}
		conds := func(list []*dsl.Condition, where string) {
			for _, cd := range list {
				s.add(CatConditions, cd.Pos, fmt.Sprintf("condition %q of %s never true", cd.Source, where), condKey(cd.Pos, true))
				s.add(CatConditions, cd.Pos, fmt.Sprintf("condition %q of %s never false", cd.Source, where), condKey(cd.Pos, false))
			}
		}
		conds(sc.Conditions, "scenario "+sc.Name)
		for _, name := range slices.Sorted(keys(sc.Actions)) {
			a := sc.Actions[name]
			if !a.Active {
				continue
			}
			s.add(CatActionOutcomes, a.Pos, "action "+name+" never succeeded", actionKey(a, true))
			s.add(CatActionOutcomes, a.Pos, "action "+name+" never failed", actionKey(a, false))
		}
		for ci, gc := range gs.Conversations {
			cv := sc.Conversations[ci]
			conds(cv.Conditions, "conversation "+gc.Name)
			for si, gsc := range gc.Scenes {
				conds(cv.Scenes[si].Conditions, "scene "+gsc.Name)
				for _, gt := range gsc.Turns {
					t := gt.Src
					s.add(CatTurns, gt.Pos, "turn "+gt.Name+" never entered"+unreachable(gt.Reachable), turnKey(t))
					conds(t.Conditions, "turn "+gt.Name)
					for _, gi := range gt.Intents {
						in := gi.Src
						cat := CatAppIntents
						switch {
						case isNoMatch(in.ID):
							cat = CatNoMatch
						case in.Speaker == engine.SpeakerUser:
							cat = CatUserIntents
						}
						s.add(cat, gi.Pos, "intent "+in.ID+" never chosen"+unreachable(gi.Reachable), intentKey(in))
						conds(in.Conditions, "intent "+in.ID)
						if in.Message != nil {
							for _, b := range in.Message.Buttons {
								label := "button " + strconv.Quote(b.Text.Source) + " of " + in.ID
								s.add(CatButtonsOffered, b.Pos, label+" never offered"+unreachable(gi.Reachable), offeredKey(&b))
								s.add(CatButtonsPressed, b.Pos, label+" never pressed"+unreachable(gi.Reachable), pressedKey(&b))
							}
						}
					}
				}
			}
		}
	}
}

func unreachable(reachable bool) string {
	if reachable {
		return ""
	}
	return " (unreachable: no conversation can get there)"
}

// findIntent is the intent a trace candidate names.
func findIntent(cfg *dsl.Config, c engine.Candidate, speaker string) (*dsl.Scenario, *dsl.Intent) {
	sc := cfg.Scenario(c.Scenario)
	if sc == nil {
		return nil, nil
	}
	cv := sc.Conversation(c.Conversation)
	if cv == nil {
		return sc, nil
	}
	scene := cv.Scene(c.Scene)
	if scene == nil {
		return sc, nil
	}
	t := scene.Turn(c.Turn)
	if t == nil {
		return sc, nil
	}
	for _, list := range [][]*dsl.Intent{t.Request, t.Response} {
		for _, in := range list {
			if in.ID == c.Intent && in.Speaker == speaker {
				return sc, in
			}
		}
	}
	return sc, nil
}

// levels lists which levels' conditions a selection evaluates for an unblocked candidate.
func levels(from string) []string {
	if rest, ok := strings.CutPrefix(from, "virtual intent "); ok {
		if _, after, ok := strings.Cut(rest, " from "); ok {
			from = after
		} else {
			return nil
		}
	}
	switch {
	case from == "starting turns":
		return []string{"scenario", "conversation", "scene", "turn"}
	case strings.HasPrefix(from, "entering turn "), strings.HasPrefix(from, "open turns of scene "):
		return []string{"turn"}
	case strings.HasPrefix(from, "entering scene "):
		return []string{"scene", "turn"}
	case strings.HasPrefix(from, "entering conversation "):
		return []string{"conversation", "scene", "turn"}
	}
	return nil
}

func levelConds(in *dsl.Intent, level string) []*dsl.Condition {
	t := in.Turn
	switch level {
	case "scenario":
		return t.Scene.Conversation.Scenario.Conditions
	case "conversation":
		return t.Scene.Conversation.Conditions
	case "scene":
		return t.Scene.Conditions
	}
	return t.Conditions
}

// seen marks conds true up to the one at failed (false), or all true when failed is "".
func seen(s *scenarioItems, conds []*dsl.Condition, failed string) {
	for _, cd := range conds {
		if cd.Pos == failed {
			s.hit(condKey(cd.Pos, false))
			return
		}
		s.hit(condKey(cd.Pos, true))
	}
}

// offeredButton is a button a reply showed.
type offeredButton struct {
	b     *dsl.Button
	value string // as rendered
}

func (c *coverage) turn(t Turn, last []offeredButton) []offeredButton {
	cfg, tr := t.Config, t.Reply.Trace
	appIntents := map[string]*dsl.Intent{}
	scOf := map[string]*dsl.Scenario{}
	for _, sel := range tr.Selections {
		lv := levels(sel.From)
		for _, cand := range sel.Candidates {
			sc, in := findIntent(cfg, cand, sel.Speaker)
			if in == nil {
				continue
			}
			s := c.scenarios[sc.Name]
			blocked := ""
			if kind, _, ok := strings.Cut(cand.Reason, " "); ok && strings.HasSuffix(cand.Reason, ": condition false") && cand.Condition != nil {
				blocked = kind
			}
			for _, l := range lv {
				if l == blocked {
					seen(s, levelConds(in, l), cand.Condition.Pos)
					break
				}
				seen(s, levelConds(in, l), "")
			}
			if blocked != "" {
				continue
			}
			switch {
			case cand.Outcome == engine.OutcomeChosen || cand.Outcome == engine.OutcomeOutranked:
				seen(s, in.Conditions, "")
			case cand.Reason == "condition false" && cand.Condition != nil:
				seen(s, in.Conditions, cand.Condition.Pos)
			}
			if cand.Outcome == engine.OutcomeChosen {
				s.hit(intentKey(in))
				s.hit(turnKey(in.Turn))
				if in.Speaker == engine.SpeakerApp {
					appIntents[in.ID] = in
				}
				scOf[in.ID] = sc
			}
		}
	}
	for _, a := range tr.Actions {
		sc := scOf[a.Intent]
		if sc == nil || a.Skipped {
			continue
		}
		if act := sc.Actions[a.Action]; act != nil {
			c.scenarios[sc.Name].hit(actionKey(act, a.Success))
		}
	}
	if t.Utterance.Type == plugins.ButtonResponse {
		// The button pressed: the first offered with its callback and value,
		// else the first with its callback (a test may send another value).
		var pressed *dsl.Button
		for _, o := range last {
			if o.b.Callback == t.Utterance.CallbackID && o.value == t.Utterance.Value {
				pressed = o.b
				break
			}
		}
		for _, o := range last {
			if pressed == nil && o.b.Callback == t.Utterance.CallbackID {
				pressed = o.b
			}
		}
		if pressed != nil {
			for _, s := range c.scenarios {
				s.hit(pressedKey(pressed))
			}
		}
	}
	var offered []offeredButton
	for _, m := range t.Reply.Messages {
		in := appIntents[m.Intent]
		if in == nil || in.Message == nil {
			continue
		}
		s := c.scenarios[scOf[m.Intent].Name]
		for i := range m.Buttons {
			if i < len(in.Message.Buttons) {
				b := &in.Message.Buttons[i]
				s.hit(offeredKey(b))
				offered = append(offered, offeredButton{b: b, value: m.Buttons[i].Value})
			}
		}
	}
	return offered
}

// NewCoverage computes the coverage of the suite's scenarios by the results' turns.
func NewCoverage(s *Suite, res *Results) *Coverage {
	c := &coverage{scenarios: map[string]*scenarioItems{}}
	for _, d := range s.Dirs {
		c.enumerate(d.Config)
	}
	for _, r := range res.Tests {
		var last []offeredButton
		for _, t := range r.Turns {
			last = c.turn(t, last)
		}
	}
	out := &Coverage{Scenarios: []ScenarioCoverage{}}
	slices.Sort(c.order)
	for _, name := range c.order {
		s := c.scenarios[name]
		sc := ScenarioCoverage{Name: name, Categories: map[string]Count{}, Uncovered: []Item{}}
		for _, cat := range Categories {
			var n Count
			for _, it := range s.items {
				if it.Category == cat {
					n.add(it.covered)
					sc.Total.add(it.covered)
					out.Total.add(it.covered)
					if !it.covered {
						sc.Uncovered = append(sc.Uncovered, it.Item)
					}
				}
			}
			n.finish()
			sc.Categories[cat] = n
		}
		sc.Total.finish()
		out.Scenarios = append(out.Scenarios, sc)
	}
	out.Total.finish()
	return out
}

// WriteText writes the coverage as text: the totals per scenario and
// category, then every uncovered item at its file:line:col.
func (c *Coverage) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "coverage: %s\n", c.Total)
	for _, s := range c.Scenarios {
		fmt.Fprintf(&b, "  %s: %s\n", s.Name, s.Total)
		for _, cat := range Categories {
			if n := s.Categories[cat]; n.Total > 0 {
				fmt.Fprintf(&b, "    %-17s %s\n", cat, n)
			}
		}
	}
	first := true
	for _, s := range c.Scenarios {
		for _, it := range s.Uncovered {
			if first {
				b.WriteString("uncovered:\n")
				first = false
			}
			fmt.Fprintf(&b, "  %s: %s: %s\n", it.Pos, s.Name, it.What)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the coverage as a table for a pull-request comment,
// with the uncovered items listed below it.
func (c *Coverage) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("### Conversation test coverage: " + pct(c.Total.Percent) + "\n\n")
	b.WriteString("| scenario | " + strings.Join(Categories, " | ") + " | total |\n")
	b.WriteString("|---" + strings.Repeat("|---:", len(Categories)+1) + "|\n")
	for _, s := range c.Scenarios {
		b.WriteString("| " + s.Name)
		for _, cat := range Categories {
			n := s.Categories[cat]
			if n.Total == 0 {
				b.WriteString(" | –")
				continue
			}
			fmt.Fprintf(&b, " | %d/%d", n.Covered, n.Total)
		}
		fmt.Fprintf(&b, " | **%s** |\n", pct(s.Total.Percent))
	}
	first := true
	for _, s := range c.Scenarios {
		for _, it := range s.Uncovered {
			if first {
				b.WriteString("\n<details><summary>Uncovered</summary>\n\n")
				first = false
			}
			fmt.Fprintf(&b, "- `%s` %s: %s\n", it.Pos, s.Name, it.What)
		}
	}
	if !first {
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the coverage as JSON.
func (c *Coverage) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the coverage: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
