package webhook

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Secrets resolves secret.NAME references. Implementations must be safe for concurrent use.
type Secrets interface {
	// Lookup returns the value of the secret name and whether it is set.
	Lookup(name string) (string, bool)
}

// SecretsFunc adapts a function to Secrets.
type SecretsFunc func(name string) (string, bool)

// Lookup calls f.
func (f SecretsFunc) Lookup(name string) (string, bool) { return f(name) }

// SecretsMap is a fixed set of secrets, handy for tests and embedders.
type SecretsMap map[string]string

// Lookup returns m[name].
func (m SecretsMap) Lookup(name string) (string, bool) {
	v, ok := m[name]
	return v, ok
}

// EnvSecrets reads secrets from the process environment: secret.NAME is the variable NAME.
func EnvSecrets() Secrets { return SecretsFunc(os.LookupEnv) }

// ChainSecrets looks a secret up in each source in turn and returns the first found.
func ChainSecrets(sources ...Secrets) Secrets {
	return SecretsFunc(func(name string) (string, bool) {
		for _, s := range sources {
			if s == nil {
				continue
			}
			if v, ok := s.Lookup(name); ok {
				return v, true
			}
		}
		return "", false
	})
}

// LoadSecretsFile reads a secrets file: one NAME=value per line, blank lines
// and lines starting with # ignored, values optionally in double quotes
// (Go escapes) or single quotes (verbatim), an optional leading "export ".
// Errors name the line, never a value.
func LoadSecretsFile(path string) (SecretsMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading secrets file: %w", err)
	}
	m := SecretsMap{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !secretName.MatchString(name) {
			return nil, fmt.Errorf("reading secrets file %s: line %d is not NAME=value", path, n)
		}
		value = strings.TrimSpace(value)
		switch {
		case len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"':
			v, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("reading secrets file %s: line %d: the quoted value of %s is malformed", path, n, name)
			}
			value = v
		case len(value) >= 2 && value[0] == '\'' && value[len(value)-1] == '\'':
			value = value[1 : len(value)-1]
		}
		m[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading secrets file %s: %w", path, err)
	}
	return m, nil
}
