package engine_test

import (
	"context"
	"fmt"
	"log"
	"testing/fstest"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/all" // the built-in interpreters
	"github.com/parleyhq/parley/plugins/goaction"
)

// exampleScenario greets the user by full name, computed by a Go action.
const exampleScenario = `
scenarios: greeter: {
	actions: full_name: {
		go: "full_name"
		inputs: ["first_name", "last_name"]
		outputs: ["full_name"]
	}
	conversations: welcome: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: welcome: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "welcome_response", message: {text: "Hi! Press OK.", buttons: [{text: "OK", callback: "ok"}]}}]
			}
			turns: greet: {
				valid_origins: ["welcome_response"]
				request: [{id: "ok", actions: [{use: "full_name"}]}]
				response: [
					{id: "greeting", conditions: ["user.action_status"], message: text: "Hello {{ user.full_name }}!", behaviors: ["completing"]},
					{id: "sorry", message: text: "Sorry, I could not look you up.", behaviors: ["completing"]},
				]
			}
		}
	}
}
`

// Example runs the greeter conversation in-process, with its action
// implemented by a Go function registered in the engine's own environment.
func Example() {
	env := plugins.NewEnvironment() // a copy of the built-in plugins
	_, err := goaction.Register(env, map[string]plugins.ActionFunc{
		"full_name": func(_ context.Context, req plugins.ActionRequest) plugins.ActionResult {
			first, _ := req.Inputs["first_name"].(string)
			last, _ := req.Inputs["last_name"].(string)
			return plugins.ActionResult{Success: true, Outputs: map[string]any{"full_name": first + " " + last}}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	files := fstest.MapFS{"greeter.cue": {Data: []byte(exampleScenario)}}
	e, err := engine.OpenFS(files, engine.WithEnvironment(env))
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx := context.Background()
	say := func(u plugins.Utterance) {
		reply, err := e.Handle(ctx, "user-42", u)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range reply.Messages {
			fmt.Println(m.Text)
			for _, b := range m.Buttons {
				fmt.Printf("  [%s] -> %s\n", b.Text, b.Callback)
			}
		}
	}
	say(plugins.Utterance{Type: plugins.ChatOpen})
	if err := e.SetAttribute(ctx, "user-42", "user.first_name", "Ada"); err != nil {
		log.Fatal(err)
	}
	if err := e.SetAttribute(ctx, "user-42", "user.last_name", "Lovelace"); err != nil {
		log.Fatal(err)
	}
	say(plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: "ok"})

	c, err := e.Context(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("full_name:", c.User["full_name"], "action_status:", c.User["action_status"])
	// Output:
	// Hi! Press OK.
	//   [OK] -> ok
	// Hello Ada Lovelace!
	// full_name: Ada Lovelace action_status: true
}

// ExampleEngine_Handle shows the trace of a turn: why each candidate intent
// was chosen or rejected.
func ExampleEngine_Handle() {
	files := fstest.MapFS{"shop.cue": {Data: []byte(`
scenarios: shop: {
	attributes: quantity: "int"
	conversations: order: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: order: {
				behaviors: ["starting", "open"]
				request: [
					{id: "bulk", patterns: ["^(?P<quantity>\\d+) pizzas?$"], expected_attributes: quantity: "user.quantity", conditions: ["user.quantity >= 10"]},
					{id: "order", patterns: ["^(?P<quantity>\\d+) pizzas?$"], expected_attributes: quantity: "user.quantity"},
				]
				response: [{id: "confirm", message: text: "{{ user.quantity }} pizzas coming up."}]
			}
		}
	}
}
`)}}
	e, err := engine.OpenFS(files)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	reply, err := e.Handle(context.Background(), "user-7", plugins.Utterance{Type: plugins.Text, Text: "3 pizzas"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Messages[0].Text)
	for _, sel := range reply.Trace.Selections {
		for _, c := range sel.Candidates {
			fmt.Printf("%s %s: %s", sel.Speaker, c.Intent, c.Outcome)
			if c.Condition != nil {
				fmt.Printf(" (%s: %s)", c.Reason, c.Condition.Source)
			}
			fmt.Println()
		}
	}
	// Output:
	// 3 pizzas coming up.
	// user bulk: rejected (condition false: user.quantity >= 10)
	// user order: chosen
	// app confirm: chosen
}
