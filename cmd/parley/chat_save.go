package main

import "github.com/parleyhq/parley/engine"

// recordSet records an attribute /set just set, with the value as the engine
// typed it, for /save (as a fixture of the saved test).
func (c *chatSession) recordSet(path string) {
	p, err := engine.ParsePath(path)
	if err != nil {
		return
	}
	ctxs, err := c.e.Context(c.ctx, c.user)
	if err != nil {
		return
	}
	m := ctxs.User
	if p.Context == engine.ContextSession {
		m = ctxs.Session
	}
	c.rec.Set(p.String(), m[p.Name])
}
