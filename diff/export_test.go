package diff

import (
	"fmt"
	"reflect"
	"strings"
)

// FlattenForTest flattens two values as intents' fields are and lists the differences.
func FlattenForTest(a, b any) string {
	fa, fb := map[string]string{}, map[string]string{}
	flatten("", reflect.ValueOf(a), fa)
	flatten("", reflect.ValueOf(b), fb)
	var parts []string
	for _, f := range compareFields(fa, fb) {
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", f.Name, f.Old, f.New))
	}
	return strings.Join(parts, "; ")
}
