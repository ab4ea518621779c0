package scale

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// PluginUser is the user the plugin authenticates as (its own client
// certificate), so that the API server's audit log tells its requests
// apart from the simulated kubelet's and the harness's.
const PluginUser = "cadvisor-doctor"

// auditPolicy logs every request of PluginUser at Metadata level (verb,
// resource, URI; no bodies) and nothing else, from the stage the response
// starts or completes: a watch logs ResponseStarted when it opens and
// ResponseComplete when it ends, both under one auditID.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["` + PluginUser + `"]
- level: None
`

// Requests counts the plugin's API requests as the API server saw them.
type Requests struct {
	Total int
	// Watches is how many of them were watches.
	Watches int
	// ByCall counts "verb resource" pairs, e.g. "create pods".
	ByCall map[string]int
	// First and Last are when the API server received the first and the
	// last request of each "verb resource" pair, and of "" (any request).
	First, Last map[string]time.Time
}

// Span is how long the API server saw requests of call (a ByCall key, or
// "" for all) arrive: e.g. the creation phase is Span("create pods").
func (r Requests) Span(call string) time.Duration { return r.Last[call].Sub(r.First[call]) }

type auditEvent struct {
	AuditID string `json:"auditID"`
	Verb    string `json:"verb"`
	User    struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	RequestURI string    `json:"requestURI"`
	Received   time.Time `json:"requestReceivedTimestamp"`
}

// countRequests reads an audit log and counts the distinct requests
// (auditIDs) of user.
func countRequests(path, user string) (Requests, error) {
	f, err := os.Open(path)
	if err != nil {
		return Requests{}, fmt.Errorf("open audit log: %w", err)
	}
	defer f.Close()
	r := Requests{ByCall: map[string]int{}, First: map[string]time.Time{}, Last: map[string]time.Time{}}
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return Requests{}, fmt.Errorf("audit log line: %w", err)
		}
		if e.User.Username != user || seen[e.AuditID] {
			continue
		}
		seen[e.AuditID] = true
		r.Total++
		if e.Verb == "watch" {
			r.Watches++
		}
		what := e.RequestURI
		if e.ObjectRef != nil {
			what = e.ObjectRef.Resource
			if e.ObjectRef.Subresource != "" {
				what += "/" + e.ObjectRef.Subresource
			}
		}
		call := e.Verb + " " + what
		r.ByCall[call]++
		for _, k := range []string{call, ""} {
			if f, ok := r.First[k]; !ok || e.Received.Before(f) {
				r.First[k] = e.Received
			}
			if e.Received.After(r.Last[k]) {
				r.Last[k] = e.Received
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Requests{}, fmt.Errorf("read audit log: %w", err)
	}
	return r, nil
}

// String lists the calls, most frequent first.
func (r Requests) String() string {
	type kv struct {
		k string
		v int
	}
	var kvs []kv
	for k, v := range r.ByCall {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v || (kvs[i].v == kvs[j].v && kvs[i].k < kvs[j].k) })
	var parts []string
	for _, e := range kvs {
		parts = append(parts, fmt.Sprintf("%s=%d", e.k, e.v))
	}
	return strings.Join(parts, " ")
}
