// Package all registers every built-in plugin in plugins.Global() and
// every built-in store scheme in store.Open. Import it
// for its side effects, as the parley binary does:
//
//	import _ "github.com/parleyhq/parley/plugins/all"
package all

import (
	// Built-in plugin packages are imported here for their init registration.
	_ "github.com/parleyhq/parley/plugins/interpreters"
	_ "github.com/parleyhq/parley/plugins/store/file"
	_ "github.com/parleyhq/parley/plugins/store/redis"
	_ "github.com/parleyhq/parley/plugins/webhook"
)
