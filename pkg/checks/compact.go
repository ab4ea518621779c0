package checks

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// TerminationMessageBytes is the kubelet's limit for a container's
// termination message.
const TerminationMessageBytes = 4096

// EncodeCompact returns r as JSON of at most maxBytes, for the probe pod's
// termination message. It always keeps apiVersion, kind, verdict, reason,
// socket, containerd, cadvisorSocket, findings, the counts and calls; it keeps as many of the worst
// stuck calls (Stuck is sorted worst first) as fit and counts the rest in
// StuckOmitted; long messages are trimmed, and the per-check details go
// first when space runs out. The result decodes with json.Unmarshal into a
// Result.
func EncodeCompact(r Result, maxBytes int) ([]byte, error) {
	c := r
	c.Reason = trim(c.Reason, 600)
	c.Socket.Error = trim(c.Socket.Error, 200)
	if r.CadvisorSocket != nil {
		cs := *r.CadvisorSocket
		cs.Error = trim(cs.Error, 160)
		c.CadvisorSocket = &cs
	}
	c.Findings = append([]Finding(nil), r.Findings...)
	for i := range c.Findings {
		c.Findings[i].Message = trim(c.Findings[i].Message, 300)
	}
	c.Calls = append([]CallStats(nil), r.Calls...)
	for i := range c.Calls {
		c.Calls[i].FirstError = trim(c.Calls[i].FirstError, 160)
	}
	c.Stuck = make([]StuckCall, len(r.Stuck))
	for i, s := range r.Stuck {
		s.Error = trim(s.Error, 120)
		if s.Evidence != nil {
			e := *s.Evidence
			e.Command = trim(e.Command, 40)
			s.Evidence = &e
		}
		c.Stuck[i] = s
	}
	c.Checks = append([]CheckResult(nil), r.Checks...)
	for i := range c.Checks {
		c.Checks[i].Message = trim(c.Checks[i].Message, 100)
	}
	if r.CRI != nil {
		cri := *r.CRI
		cri.Calls = append([]CheckResult(nil), r.CRI.Calls...)
		for i := range cri.Calls {
			cri.Calls[i].Message = trim(cri.Calls[i].Message, 80)
		}
		c.CRI = &cri
	}

	// Shrink steps, least valuable first, until the encoding fits.
	steps := []func(){
		func() {
			for i := range c.Checks {
				c.Checks[i].Message = ""
			}
			if c.CRI != nil {
				for i := range c.CRI.Calls {
					c.CRI.Calls[i].Message = ""
				}
			}
		},
		func() {
			if c.CRI != nil {
				c.CRI.Calls = nil
			}
		},
		func() { c.Checks = nil },
		func() { keepStuck(&c, maxBytes) },
		func() {
			for i := range c.Stuck {
				c.Stuck[i].Error = trim(c.Stuck[i].Error, 40)
				c.Stuck[i].Evidence = nil
			}
			keepStuck(&c, maxBytes)
		},
		func() {
			c.Reason = trim(c.Reason, 200)
			c.Socket.Error = trim(c.Socket.Error, 60)
			for i := range c.Calls {
				c.Calls[i].FirstError = trim(c.Calls[i].FirstError, 40)
			}
			keepStuck(&c, maxBytes)
		},
		func() { c.StuckOmitted += len(c.Stuck); c.Stuck = []StuckCall{}; c.Daemon = nil; c.CRI = nil },
	}
	for i := 0; ; i++ {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if len(b) <= maxBytes {
			return b, nil
		}
		if i == len(steps) {
			return nil, fmt.Errorf("probe result needs %d bytes even when compacted, more than %d", len(b), maxBytes)
		}
		steps[i]()
	}
}

// keepStuck drops stuck calls from the end (the least bad) until the
// encoding fits, counting them in StuckOmitted.
func keepStuck(c *Result, maxBytes int) {
	for len(c.Stuck) > 0 {
		b, err := json.Marshal(c)
		if err != nil || len(b) <= maxBytes {
			return
		}
		// Drop as many entries as the overshoot needs, by their average size.
		sb, _ := json.Marshal(c.Stuck)
		avg := len(sb)/len(c.Stuck) + 1
		n := min(len(c.Stuck), (len(b)-maxBytes+avg-1)/avg)
		c.Stuck = c.Stuck[:len(c.Stuck)-n]
		c.StuckOmitted += n
	}
}

// trim shortens s to at most n bytes on a rune boundary, marking the cut.
func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
