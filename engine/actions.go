package engine

import (
	"fmt"
	"log/slog"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
)

// actionStatusPath is where the status of the last action goes.
var (
	actionStatusPath  = dsl.Path{Context: ContextUser, Name: ActionStatus}
	actionSuccessPath = dsl.Path{Context: ContextUser, Name: ActionSuccess}
)

// staged is one output waiting to be committed.
type staged struct {
	path  dsl.Path
	value any // nil unsets
}

// runAction evaluates an action call's inputs, runs the action, applies its
// outputs all together or not at all, and sets user.action_status and
// user.action_success (OpenDialog's designer page names the first, its
// developer reference the second: docs designing-conversations/actions/webhook-action.md
// and developing-with-opendialog/actions/webhook-actions.md).
func (t *turn) runAction(in *dsl.Intent, call *dsl.ActionCall) {
	a := call.Action
	sc := in.Turn.Scene.Conversation.Scenario
	// The trace entry is filled in place (nothing else appends to Actions meanwhile).
	t.tr.Actions = append(t.tr.Actions, ActionTrace{Intent: in.ID, Action: a.Name, Kind: a.Kind})
	at := &t.tr.Actions[len(t.tr.Actions)-1]
	defer func() {
		t.set(actionStatusPath, at.Success)
		t.set(actionSuccessPath, at.Success)
		if !at.Success && t.e.log.Enabled(t.ctx, slog.LevelWarn) {
			// The error is the action's own, already free of secrets.
			t.e.log.LogAttrs(t.ctx, slog.LevelWarn, "action failed", slog.String("scenario", sc.Name),
				slog.String("action", a.Name), slog.String("intent", in.ID), slog.String("user", t.userID),
				slog.Bool("skipped", at.Skipped), slog.String("error", at.Error))
		}
	}()
	if !a.Active {
		at.Skipped, at.Error = true, "action is inactive"
		return
	}
	if a.Impl == nil {
		at.Skipped, at.Error = true, "action has no implementation"
		return
	}
	inputs := make(map[string]any, len(call.Inputs))
	for _, m := range call.Inputs {
		var v any
		if m.Prog != nil {
			var err error
			if v, err = m.Prog.Run(t.envFor(m.Prog.Names())); err != nil {
				at.Skipped, at.Error = true, fmt.Sprintf("input %s: %v", m.Name, err)
				return
			}
		} else {
			v = t.get(m.From)
		}
		if v != nil {
			// A copy of lists and maps: the stored contexts are shared and never changed in place.
			inputs[m.Name] = deepCopy(v)
		}
	}
	at.Inputs = inputs
	started := t.e.now()
	res := a.Impl.Run(t.ctx, plugins.ActionRequest{Scenario: sc.Name, Action: a.Name, UserID: t.userID, Inputs: inputs})
	at.Duration = t.e.now().Sub(started)
	at.Calls, at.Error = res.Calls, res.Error
	if !res.Success {
		if at.Error == "" {
			at.Error = "action reported failure"
		}
		return
	}
	var buf [4]staged
	out, err := t.stageOutputs(sc, call, res.Outputs, buf[:0])
	if err != nil {
		at.Error = "outputs not applied: " + err.Error()
		return
	}
	if len(out) > 0 {
		at.Outputs = make(map[string]any, len(out))
	}
	for _, s := range out {
		t.set(s.path, s.value)
		at.Outputs[s.path.String()] = s.value
	}
	at.Success = true
}

// stageOutputs computes and type-checks every output of a call without
// changing any context, appending them to out.
func (t *turn) stageOutputs(sc *dsl.Scenario, call *dsl.ActionCall, outputs map[string]any, out []staged) ([]staged, error) {
	if len(call.Outputs) == 0 {
		return nil, nil
	}
	var env map[string]any
	for _, m := range call.Outputs {
		if m.Prog != nil {
			t.need(m.Prog.Names()) // before env copies the environment
		}
	}
	for _, m := range call.Outputs {
		var v any
		if m.Prog != nil {
			if env == nil {
				// A private copy: "output" must not leak into later expressions.
				base := t.envMap()
				env = make(map[string]any, len(base)+1)
				for k, x := range base {
					env[k] = x
				}
				if outputs == nil {
					outputs = map[string]any{}
				}
				env["output"] = outputs
			}
			var err error
			if v, err = m.Prog.Run(env); err != nil {
				return nil, fmt.Errorf("%s: %w", m.Target, err)
			}
		} else {
			var ok bool
			if v, ok = outputs[m.From]; !ok {
				continue // not returned: left alone
			}
		}
		v, err := t.check(sc, m.Target, v)
		if err != nil {
			return nil, err
		}
		out = append(out, staged{path: m.Target, value: v})
	}
	return out, nil
}
