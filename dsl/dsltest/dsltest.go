// Package dsltest generates scenario directories for tests and benchmarks
// of the loader, the engine and hot reload, so they all measure the same shape.
package dsltest

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteShop writes generated scenario i, a realistic one, to dir/shopNNNN/main.cue: two conversations, an
// action with input and output mappings, conditions, templates, patterns,
// utterances, expected attributes, valid origins and a transition. Expressions
// differ between scenarios, so a per-load compile cache does not flatter a
// benchmark; rev is written into a comment, so a rewrite changes the content
// but not the meaning.
func WriteShop(dir string, i, rev int) error {
	name := fmt.Sprintf("shop%04d", i)
	src := fmt.Sprintf(`package scenarios

// revision %[5]d
scenarios: %[1]s: {
	description: "Order desk number %[2]d"
	attributes: {
		order_id:   "string"
		party_size: "int"
		vip:        "bool"
	}
	actions: {
		lookup: {
			webhook: {
				url: "https://orders.example.com/v1/orders/{{ secret.ORDER_TOKEN }}"
				headers: Authorization: "Bearer {{ secret.ORDER_TOKEN }}"
				timeout: "2s"
			}
			inputs: ["order_id", "customer"]
			outputs: ["status", "eta", "items"]
		}
		full_name: {
			webhook: url: "https://people.example.com/opendialog"
			inputs: ["first_name", "last_name"]
			outputs: ["full_name"]
		}
	}
	conversations: {
		welcome: {
			behaviors: ["starting"]
			scenes: main: {
				behaviors: ["starting"]
				turns: {
					welcome: {
						behaviors: ["starting"]
						request: [{id: "intent.core.welcome"}]
						response: [{
							id: "welcome_response"
							actions: [{use: "full_name"}]
							message: {
								text: "Hello {{ user.full_name ?? \"there\" }}! How can I help with order desk %[2]d?"
								buttons: [{text: "Track an order", callback: "track"}, {text: "Book", callback: "book"}]
							}
						}]
					}
					track: {
						valid_origins: ["welcome_response"]
						request: [{
							id: "track"
							utterances: ["where is my order", "track my order", "order status"]
							patterns: ["(?i)order (?P<order_id>[A-Z0-9-]{6,})"]
							expected_attributes: order_id: "user.order_id"
							conditions: ["user.order_id != \"\" || utterance.text != \"\""]
							actions: [{
								use: "lookup"
								inputs: {order_id: "user.order_id", customer: "user.first_name + \" \" + (user.last_name ?? \"\")"}
								outputs: {
									"session.status": "output.status"
									"user.eta":       "output.eta ?? \"unknown (desk %[2]d)\""
									"session.count":  "len(output.items ?? [])"
								}
							}]
						}]
						response: [
							{id: "shipped", conditions: ["user.action_status", "session.status == \"shipped\""], message: text: "Order {{ user.order_id }} has shipped and arrives {{ user.eta }}.", behaviors: ["completing"]},
							{id: "delayed", conditions: ["user.action_status && session.status == \"delayed\""], message: text: "Order {{ user.order_id }} is delayed; {{ session.count }} items are waiting."},
							{id: "lookup_failed", message: text: "Sorry, I could not find order {{ user.order_id }}.", behaviors: ["completing"]},
						]
					}
					no_match: {
						behaviors: ["open"]
						request: [{id: "intent.core.TurnNoMatch"}]
						response: [{id: "no_match_response", message: text: "Sorry, I did not get that ({{ utterance.text }})."}]
					}
				}
			}
		}
		booking: {
			behaviors: ["open"]
			conditions: ["!user.vip || user.party_size < %[3]d"]
			scenes: {
				ask: {
					behaviors: ["starting"]
					turns: size: {
						valid_origins: ["welcome_response"]
						request: [{
							id: "book"
							patterns: ["(?i)table for (?P<party_size>\\d+)( at (?P<time>\\d{1,2}(:\\d\\d)?\\s*(am|pm)?))?"]
							utterances: ["book a table"]
							expected_attributes: {party_size: "user.party_size", time: "session.time"}
							transition: scene: "confirm"
						}]
						response: [{id: "ask_time", conditions: ["session.time == nil && user.party_size <= %[3]d"], message: text: "For {{ user.party_size }} people at desk %[2]d; what time? We open at {{ %[4]d + 7 }}am."}]
					}
				}
				confirm: turns: done: {
					request: [{id: "confirm", utterances: ["yes", "confirm"], confidence: 0.8}]
					response: [{id: "confirmed", message: text: "Booked for {{ user.party_size }} at {{ session.time }}.", behaviors: ["completing"], transition: conversation: "welcome"}]
				}
			}
		}
	}
}
`, name, i, 5+i%40, i%3, rev)
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "main.cue"), []byte(src), 0o644)
}
