package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads and validates the policy file at path. Fields the file leaves
// out keep their Default values, so a business writes only what it changes.
func Load(path string) (Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("read policy: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a policy document onto Default and validates it; name is
// the file name the errors mention. Unknown fields are errors (a misspelt
// key would otherwise silently keep its default), reported as
// "policy NAME: line N: field x not found".
func Parse(data []byte, name string) (p Policy, err error) {
	p = Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Policy{}, fmt.Errorf("policy %s: line %d: only one YAML document is allowed", name, extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return Policy{}, yamlError(name, err)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("policy %s: %w", name, err)
	}
	return p, nil
}

// fileError rewrites a yaml error for a person editing the file while
// keeping the original for errors.As.
type fileError struct {
	msg string
	err error
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.err }

// notFound drops the Go type name from yaml's unknown-field message: the
// reader knows the section from the line, not from policy.Engage.
var notFound = regexp.MustCompile(`^(line \d+: field .+ not found) in type \S+$`)

func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = notFound.ReplaceAllString(m, "$1")
		}
		return &fileError{msg: fmt.Sprintf("policy %s: %s", name, strings.Join(msgs, "; ")), err: err}
	}
	return &fileError{msg: fmt.Sprintf("policy %s: %s", name, strings.TrimPrefix(err.Error(), "yaml: ")), err: err}
}
