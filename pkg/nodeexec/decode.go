package nodeexec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// DecodeResult parses a probe result and refuses anything that is not one:
// a termination message or log must carry the probe's apiVersion and kind
// and a verdict.
func DecodeResult(b []byte) (*checks.Result, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	var r checks.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not a probe result: %w", err)
	}
	if err := validResult(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

func validResult(r *checks.Result) error {
	if r.APIVersion != checks.APIVersion || r.Kind != checks.Kind {
		return fmt.Errorf("not a probe result: apiVersion %q kind %q, want %q %q", r.APIVersion, r.Kind, checks.APIVersion, checks.Kind)
	}
	if r.Verdict == "" {
		return errors.New("probe result without a verdict")
	}
	return nil
}

// ResultFromLog finds the last valid probe result in a container log. The
// probe writes its JSON to stdout; anything else in the log (an error
// text from a frozen node's kubelet, stray lines) is ignored, and a log
// without a valid result is an error: never a verdict.
func ResultFromLog(log []byte) (*checks.Result, error) {
	var found *checks.Result
	for i := 0; i < len(log); i++ {
		if log[i] != '{' || (i > 0 && log[i-1] != '\n') {
			continue
		}
		var r checks.Result
		dec := json.NewDecoder(bytes.NewReader(log[i:]))
		if err := dec.Decode(&r); err != nil || validResult(&r) != nil {
			continue
		}
		found = &r
		i += int(dec.InputOffset()) - 1
	}
	if found == nil {
		return nil, fmt.Errorf("no probe result in the log (%d bytes: %q)", len(log), firstLine(string(log)))
	}
	return found, nil
}
