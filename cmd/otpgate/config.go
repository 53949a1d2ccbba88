package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// configFile loads a --config JSON file whose keys are flag names exactly as
// written on the command line ({"code-length": 8}). A key that names no flag
// is an error, not a silent no-op: a typo in a payment system's configuration
// must not fall back to a default unnoticed. The precedence is flag, then
// OTPGATE_* variable, then this file, then the default.
func configFile(r io.Reader) (kong.Resolver, error) {
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	values := map[string]any{}
	for k, text := range raw {
		if k == smsFlagName {
			// A JSON document of its own, which its flag decodes strictly:
			// handed over as written.
			values[k] = string(text)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("config file: %s: %w", k, err)
		}
		values[k] = v
	}
	for k, v := range values {
		switch v := v.(type) {
		case json.Number:
			values[k] = v.String() // kong parses the flag's type from text
		case map[string]any:
			// A map flag of JSON values (authenticate-shape) may be written
			// as nested objects; kong wants each value as text.
			for name, inner := range v {
				if _, isText := inner.(string); !isText {
					b, err := json.Marshal(inner)
					if err != nil {
						return nil, fmt.Errorf("config file: %s.%s: %w", k, name, err)
					}
					v[name] = string(b)
				}
			}
		}
	}
	return configResolver(values), nil
}

type configResolver map[string]any

// Validate refuses keys that are not flags of any command.
func (c configResolver) Validate(app *kong.Application) error {
	known := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			known[f.Name] = true
		}
		for _, child := range n.Children {
			walk(child)
		}
	}
	walk(app.Node)
	var unknown []string
	for k := range c {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file: unknown setting(s) %s: keys are flag names such as \"listen\" or \"code-length\"",
			strings.Join(unknown, ", "))
	}
	return nil
}

// Resolve gives the file's value unless the flag's variable is set.
func (c configResolver) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	for _, env := range flag.Envs {
		if _, set := os.LookupEnv(env); set {
			return nil, nil
		}
	}
	v, ok := c[flag.Name]
	if !ok {
		return nil, nil
	}
	return v, nil
}
