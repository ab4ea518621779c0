package faultproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// The rules file format (what hack/faultproxy --rules reads, and re-reads on
// SIGHUP). Either an object with a "rules" list or the bare list:
//
//	{"rules": [
//	  {"method": "/containerd.services.tasks.v1.Tasks/Get", "match": "my-container-id", "action": "hang"},
//	  {"method": "/containerd.services.containers.v1.Containers/Get", "action": "delay", "delay": "1.5s"},
//	  {"action": "fail", "code": "Unavailable", "message": "injected by faultproxy"}
//	]}
//
// Fields: method (full method, "" or absent = any), match (substring of the
// raw request bytes, absent = any), action (pass, delay, hang, fail),
// delay (Go duration, delay only), code (gRPC code name such as
// "Unavailable", "DeadlineExceeded" or "DEADLINE_EXCEEDED", or its number;
// fail only), message (fail only). Unknown fields are errors, so a typo does
// not silently pass every call. An empty list passes everything.

type ruleJSON struct {
	Method  string `json:"method,omitempty"`
	Match   string `json:"match,omitempty"`
	Action  Action `json:"action"`
	Delay   string `json:"delay,omitempty"`
	Code    any    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// ParseRules decodes a rules file and checks every rule, reporting all
// problems at once.
func ParseRules(data []byte) ([]Rule, error) {
	data = bytes.TrimSpace(data)
	var raw []ruleJSON
	if len(data) > 0 && data[0] == '[' {
		if err := decodeStrict(data, &raw); err != nil {
			return nil, fmt.Errorf("parse rules: %w", err)
		}
	} else {
		var doc struct {
			Rules []ruleJSON `json:"rules"`
		}
		if err := decodeStrict(data, &doc); err != nil {
			return nil, fmt.Errorf("parse rules: %w", err)
		}
		raw = doc.Rules
	}
	rules := make([]Rule, 0, len(raw))
	var errs []error
	for i, rj := range raw {
		r, err := rj.rule()
		if err == nil {
			err = r.validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d: %w", i, err))
			continue
		}
		rules = append(rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rules, nil
}

// FormatRules encodes rules in the format ParseRules reads, so tests and
// harnesses can write a rules file from Go values.
func FormatRules(rules []Rule) ([]byte, error) {
	doc := struct {
		Rules []ruleJSON `json:"rules"`
	}{Rules: []ruleJSON{}}
	for _, r := range rules {
		rj := ruleJSON{Method: r.Method, Match: r.Match, Action: r.Action, Message: r.Message}
		if r.Delay != 0 {
			rj.Delay = r.Delay.String()
		}
		if r.Code != codes.OK {
			rj.Code = r.Code.String()
		}
		doc.Rules = append(doc.Rules, rj)
	}
	return json.MarshalIndent(doc, "", "  ")
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the rules")
	}
	return nil
}

func (rj ruleJSON) rule() (Rule, error) {
	r := Rule{Method: rj.Method, Match: rj.Match, Action: rj.Action, Message: rj.Message}
	if rj.Delay != "" {
		d, err := time.ParseDuration(rj.Delay)
		if err != nil {
			return Rule{}, fmt.Errorf("delay: %w", err)
		}
		r.Delay = d
	}
	if rj.Code != nil {
		c, err := parseCode(rj.Code)
		if err != nil {
			return Rule{}, err
		}
		r.Code = c
	}
	return r, nil
}

// parseCode accepts a code's Go name ("DeadlineExceeded"), its wire name
// ("DEADLINE_EXCEEDED") or its number.
func parseCode(v any) (codes.Code, error) {
	switch c := v.(type) {
	case float64:
		if c < 0 || c > 16 || c != float64(int(c)) {
			return 0, fmt.Errorf("code %v is not a gRPC code (0-16)", c)
		}
		return codes.Code(int(c)), nil
	case string:
		if n, err := strconv.Atoi(c); err == nil {
			return parseCode(float64(n))
		}
		want := strings.ReplaceAll(strings.ToLower(c), "_", "")
		if want == "cancelled" { // the wire name is spelled CANCELLED
			want = "canceled"
		}
		for i := codes.Code(0); i <= 16; i++ {
			if strings.ToLower(i.String()) == want {
				return i, nil
			}
		}
		return 0, fmt.Errorf("unknown gRPC code %q", c)
	default:
		return 0, fmt.Errorf("code must be a name or a number, got %v", v)
	}
}
