package kubeletevidence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ErrNoMetrics: nothing in the input parsed as a metric.
var ErrNoMetrics = errors.New("no metrics in /metrics/cadvisor response")

// ContainerSeries is what /metrics/cadvisor says about one cgroup (one "id").
type ContainerSeries struct {
	// ID is the cgroup path label ("/kubepods/besteffort/pod.../<64 hex>").
	ID string `json:"id"`
	// ContainerID is the 64-hex container id at the end of ID, "" for pod,
	// QoS and system cgroups.
	ContainerID string `json:"containerId,omitempty"`
	// Labels cAdvisor's containerd handler fills in; the raw cgroup handler
	// (used when the containerd factory never registered) leaves them empty.
	Image     string `json:"image,omitempty"`
	Name      string `json:"name,omitempty"`
	Container string `json:"container,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Series    int    `json:"series"`
	// NewestSample is the newest sample timestamp of this id (zero when the
	// exposition carried no timestamps).
	NewestSample time.Time `json:"newestSample,omitzero"`
	// LastSeen is container_last_seen's value, when exported.
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// Labeled: the series carry the containerd handler's image and name labels.
func (c ContainerSeries) Labeled() bool { return c.Image != "" && c.Name != "" }

// CAdvisorMetrics is what the parser keeps of /metrics/cadvisor.
type CAdvisorMetrics struct {
	// ScrapeError is container_scrape_error (1: cAdvisor failed to get
	// container metrics); HasScrapeError false when the metric was absent.
	ScrapeError    float64 `json:"scrapeError"`
	HasScrapeError bool    `json:"hasScrapeError"`
	// Families and Samples count what was parsed of the kept families
	// (keptFamilies); the other families are skipped unparsed.
	Families int `json:"families"`
	Samples  int `json:"samples"`
	// Containers has one entry per distinct id label of container_* series,
	// sorted by ID.
	Containers []ContainerSeries `json:"containers"`
	// Truncated: the body did not end with a newline (the last line was
	// dropped) or hit MaxBytes. ParseError: the text parser stopped early;
	// what came before it is kept.
	Truncated  bool   `json:"truncated"`
	ParseError string `json:"parseError,omitempty"`
}

// ParseCAdvisorMetrics reads a Prometheus text exposition from the kubelet's
// /metrics/cadvisor, at most maxBytes of it (0: 64 MiB). A parse error in the
// middle keeps the families before it (ParseError says where); only an input
// without any metric is an error.
func ParseCAdvisorMetrics(r io.Reader, maxBytes int64) (*CAdvisorMetrics, error) {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	m := &CAdvisorMetrics{}
	if int64(len(body)) > maxBytes {
		body, m.Truncated = body[:maxBytes], true
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		body, m.Truncated = body[:bytes.LastIndexByte(body, '\n')+1], true
	}
	kept := keepFamilies(body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, perr := p.TextToMetricFamilies(bytes.NewReader(kept))
	if perr != nil {
		m.ParseError = perr.Error()
		// The parser keeps the metric it was in the middle of: parse again
		// up to the line before the bad one, so no half-read sample counts.
		var pe expfmt.ParseError
		if errors.As(perr, &pe) && pe.Line >= 1 {
			p2 := expfmt.NewTextParser(model.UTF8Validation)
			families, _ = p2.TextToMetricFamilies(bytes.NewReader(firstLines(kept, pe.Line-1)))
		}
	}
	m.collect(families)
	if err != nil {
		return m, fmt.Errorf("read /metrics/cadvisor: %w", err)
	}
	if m.Samples == 0 {
		if perr != nil {
			return m, fmt.Errorf("%w: %v", ErrNoMetrics, perr)
		}
		return m, ErrNoMetrics
	}
	return m, nil
}

// keptFamilies are the families the evidence needs. container_last_seen
// and container_start_time_seconds are exported for every cgroup cAdvisor
// tracks, with its labels; the CPU and memory families are kept as well, but
// not relied on (on the local cluster's cgroup v1 nodes the kubepods cgroups
// have no container_cpu_usage_seconds_total: testdata/captured-*). The other
// ~50 families would only multiply the parsing work (expfmt allocates per
// label), about tenfold on a node with many containers.
var keptFamilies = map[string]bool{
	"container_scrape_error":             true,
	"container_cpu_usage_seconds_total":  true,
	"container_memory_working_set_bytes": true,
	"container_last_seen":                true,
	"container_start_time_seconds":       true,
}

// firstLines returns the first n lines of b.
func firstLines(b []byte, n int) []byte {
	end := 0
	for ; n > 0 && end < len(b); n-- {
		i := bytes.IndexByte(b[end:], '\n')
		if i < 0 {
			return b
		}
		end += i + 1
	}
	return b[:end]
}

// keepFamilies drops the lines (samples, HELP and TYPE) of other families.
func keepFamilies(body []byte) []byte {
	out := make([]byte, 0, len(body)/4)
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i+1], body[i+1:]
		} else {
			body = nil
		}
		name := line
		if bytes.HasPrefix(name, []byte("# HELP ")) || bytes.HasPrefix(name, []byte("# TYPE ")) {
			name = name[len("# HELP "):]
		} else if bytes.HasPrefix(name, []byte("#")) {
			continue
		}
		if i := bytes.IndexAny(name, "{ \t\n"); i >= 0 {
			name = name[:i]
		}
		if keptFamilies[string(name)] {
			out = append(out, line...)
		}
	}
	return out
}

func (m *CAdvisorMetrics) collect(families map[string]*dto.MetricFamily) {
	byID := map[string]*ContainerSeries{}
	for name, mf := range families {
		m.Families++
		for _, metric := range mf.GetMetric() {
			m.Samples++
			if name == "container_scrape_error" {
				m.ScrapeError, m.HasScrapeError = sampleValue(metric), true
				continue
			}
			if !strings.HasPrefix(name, "container_") {
				continue
			}
			labels := map[string]string{}
			for _, lp := range metric.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			id, ok := labels["id"]
			if !ok {
				continue
			}
			c := byID[id]
			if c == nil {
				c = &ContainerSeries{ID: id, ContainerID: containerIDFromCgroup(id)}
				byID[id] = c
			}
			c.Series++
			// The labels are the same on every series of an id; keep the
			// first non-empty value in case one series lacks them.
			setIfEmpty(&c.Image, labels["image"])
			setIfEmpty(&c.Name, labels["name"])
			setIfEmpty(&c.Container, labels["container"])
			setIfEmpty(&c.Pod, labels["pod"])
			setIfEmpty(&c.Namespace, labels["namespace"])
			if metric.TimestampMs != nil {
				if ts := time.UnixMilli(metric.GetTimestampMs()).UTC(); ts.After(c.NewestSample) {
					c.NewestSample = ts
				}
			}
			if name == "container_last_seen" {
				sec := sampleValue(metric)
				c.LastSeen = time.Unix(int64(sec), 0).UTC()
			}
		}
	}
	m.Containers = make([]ContainerSeries, 0, len(byID))
	for _, c := range byID {
		m.Containers = append(m.Containers, *c)
	}
	sort.Slice(m.Containers, func(i, j int) bool { return m.Containers[i].ID < m.Containers[j].ID })
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// containerIDFromCgroup returns the 64-hex container id ending a cgroup path
// (cgroupfs ".../<id>", systemd ".../cri-containerd-<id>.scope"), the same
// names cAdvisor's containerd factory claims; "" for any other cgroup.
func containerIDFromCgroup(id string) string {
	base := path.Base(id)
	base = strings.TrimSuffix(strings.TrimPrefix(base, "cri-containerd-"), ".scope")
	if len(base) != 64 {
		return ""
	}
	for i := 0; i < len(base); i++ {
		if c := base[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return base
}
