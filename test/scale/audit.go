package scale

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
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
}

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
	RequestURI string `json:"requestURI"`
}

// countRequests reads an audit log and counts the distinct requests
// (auditIDs) of user.
func countRequests(path, user string) (Requests, error) {
	f, err := os.Open(path)
	if err != nil {
		return Requests{}, fmt.Errorf("open audit log: %w", err)
	}
	defer f.Close()
	r := Requests{ByCall: map[string]int{}}
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
		r.ByCall[e.Verb+" "+what]++
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
