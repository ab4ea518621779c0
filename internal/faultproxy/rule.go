package faultproxy

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// Action is what the proxy does with a call that a Rule matches.
type Action int

const (
	// Pass forwards the call unchanged. A Pass rule placed first exempts
	// calls from the rules after it.
	Pass Action = iota
	// Delay waits Rule.Delay (or until the client gives up or the proxy
	// closes), then forwards the call.
	Delay
	// Hang never forwards the call: it blocks until the client's deadline
	// passes, the client cancels, or the proxy is closed. This is what a
	// frozen containerd looks like to one method.
	Hang
	// Fail answers at once with status Rule.Code and Rule.Message, without
	// calling upstream.
	Fail
)

var actionNames = [...]string{Pass: "pass", Delay: "delay", Hang: "hang", Fail: "fail"}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// MarshalText writes the lower-case name ("hang").
func (a Action) MarshalText() ([]byte, error) {
	if a < 0 || int(a) >= len(actionNames) {
		return nil, fmt.Errorf("unknown action %d", int(a))
	}
	return []byte(actionNames[a]), nil
}

// UnmarshalText reads a name, case-insensitively.
func (a *Action) UnmarshalText(b []byte) error {
	for i, n := range actionNames {
		if strings.EqualFold(n, string(b)) {
			*a = Action(i)
			return nil
		}
	}
	return fmt.Errorf("unknown action %q (want one of %s)", b, strings.Join(actionNames[:], ", "))
}

// Rule selects calls by method and request bytes and says what to do with
// them. Rules are tried in order; the first that matches decides. A call no
// rule matches is passed through.
type Rule struct {
	// Method is the full gRPC method, e.g.
	// "/containerd.services.tasks.v1.Tasks/Get"; "" matches any method.
	Method string
	// Match is a substring of the raw (protobuf-encoded) first request
	// message; "" matches any request. String fields such as container ids
	// appear verbatim in the encoding, so an id selects the calls about
	// that container.
	Match string
	// Action is what happens to a matching call.
	Action Action
	// Delay is how long a Delay rule waits before forwarding.
	Delay time.Duration
	// Code and Message are the status a Fail rule answers with.
	Code    codes.Code
	Message string
}

// matches reports whether r selects a call of method with first request req.
func (r Rule) matches(method string, req []byte) bool {
	if r.Method != "" && r.Method != method {
		return false
	}
	return r.Match == "" || bytes.Contains(req, []byte(r.Match))
}

// validate reports a rule that cannot do what it says.
func (r Rule) validate() error {
	switch r.Action {
	case Pass, Hang:
	case Delay:
		if r.Delay <= 0 {
			return fmt.Errorf("delay rule needs a positive delay, got %s", r.Delay)
		}
	case Fail:
		if r.Code == codes.OK {
			return fmt.Errorf("fail rule needs a non-OK code")
		}
	default:
		return fmt.Errorf("unknown action %d", int(r.Action))
	}
	if r.Method != "" && !strings.HasPrefix(r.Method, "/") {
		return fmt.Errorf("method %q must be a full method starting with /", r.Method)
	}
	return nil
}

// firstMatch returns the first rule in rules that selects the call, or a
// Pass rule when none does.
func firstMatch(rules []Rule, method string, req []byte) (Rule, int) {
	for i, r := range rules {
		if r.matches(method, req) {
			return r, i
		}
	}
	return Rule{Action: Pass}, -1
}
