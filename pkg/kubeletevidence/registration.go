package kubeletevidence

import (
	"strings"
	"time"
)

// Registration states: did the kubelet's cAdvisor register its containerd
// factory (issue 8)?
const (
	// RegistrationRegistered: every container cgroup carries image and name.
	RegistrationRegistered = "Registered"
	// RegistrationNotRegistered: container cgroups exist, none carries image
	// or name: the series come from the raw cgroup handler, so the containerd
	// factory did not register (socket missing when the kubelet started).
	RegistrationNotRegistered = "NotRegistered"
	// RegistrationPartial: some container cgroups are labeled, some not.
	RegistrationPartial = "Partial"
	// RegistrationNoContainers: no container cgroup in the metrics: nothing
	// to tell from.
	RegistrationNoContainers = "NoContainers"
)

// Registration counts container cgroups with and without the containerd
// handler's labels.
type Registration struct {
	State            string   `json:"state"`
	ContainerCgroups int      `json:"containerCgroups"`
	Labeled          int      `json:"labeled"`
	Unlabeled        int      `json:"unlabeled"`
	UnlabeledIDs     []string `json:"unlabeledIds,omitempty"`
}

// Registration tells whether cAdvisor's containerd factory is in use.
func (m *CAdvisorMetrics) Registration() Registration {
	r := Registration{}
	for _, c := range m.Containers {
		if c.ContainerID == "" {
			continue
		}
		r.ContainerCgroups++
		if c.Labeled() {
			r.Labeled++
		} else {
			r.Unlabeled++
			r.UnlabeledIDs = append(r.UnlabeledIDs, c.ContainerID)
		}
	}
	switch {
	case r.ContainerCgroups == 0:
		r.State = RegistrationNoContainers
	case r.Labeled == 0:
		r.State = RegistrationNotRegistered
	case r.Unlabeled == 0:
		r.State = RegistrationRegistered
	default:
		r.State = RegistrationPartial
	}
	return r
}

// Coverage compares the metrics with the CRI's running containers.
type Coverage struct {
	Running    int `json:"running"`
	WithSeries int `json:"withSeries"`
	Labeled    int `json:"labeled"`
	// Missing: running per the CRI, no series at all. cAdvisor never
	// created a handler for them: discovery is stuck (issue 7's
	// corroboration) or the container started after the scrape.
	Missing []string `json:"missing,omitempty"`
	// Unlabeled: series without image/name (factory not registered).
	Unlabeled []string `json:"unlabeled,omitempty"`
}

// Coverage matches running container ids (full 64-hex ids, or unique
// prefixes of at least 12 characters, as the CRI and crictl print them)
// against the container cgroups in the metrics.
func (m *CAdvisorMetrics) Coverage(running []string) Coverage {
	cov := Coverage{Running: len(running)}
	for _, id := range running {
		c, ok := m.findContainer(strings.ToLower(id))
		switch {
		case !ok:
			cov.Missing = append(cov.Missing, id)
		case c.Labeled():
			cov.WithSeries++
			cov.Labeled++
		default:
			cov.WithSeries++
			cov.Unlabeled = append(cov.Unlabeled, id)
		}
	}
	return cov
}

func (m *CAdvisorMetrics) findContainer(id string) (ContainerSeries, bool) {
	if len(id) < 12 {
		return ContainerSeries{}, false
	}
	for _, c := range m.Containers {
		if c.ContainerID != "" && strings.HasPrefix(c.ContainerID, id) {
			return c, true
		}
	}
	return ContainerSeries{}, false
}

// Stale returns the cgroups whose newest sample is older than maxAge at now
// (the caller's clock; kubelet and caller clocks may differ by the usual
// skew). Series without timestamps are never stale: nothing to tell from.
func (m *CAdvisorMetrics) Stale(now time.Time, maxAge time.Duration) []ContainerSeries {
	var out []ContainerSeries
	for _, c := range m.Containers {
		if !c.NewestSample.IsZero() && now.Sub(c.NewestSample) > maxAge {
			out = append(out, c)
		}
	}
	return out
}

// NewestSample is the newest sample timestamp over all cgroups (zero if none).
func (m *CAdvisorMetrics) NewestSample() time.Time {
	var t time.Time
	for _, c := range m.Containers {
		if c.NewestSample.After(t) {
			t = c.NewestSample
		}
	}
	return t
}
