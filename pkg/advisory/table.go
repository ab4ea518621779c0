package advisory

import (
	"errors"
	"fmt"
	"sort"

	"sigs.k8s.io/yaml"
)

// table is advisories.yaml as parsed and checked.
type table struct {
	Calls      map[string]callDef `json:"calls"`
	Kubelet    []kubeletRow       `json:"kubelet"`
	Containerd []hangRow          `json:"containerd"`
}

type callDef struct {
	Site string `json:"site"`
	GRPC string `json:"grpc"`
}

type kubeletRow struct {
	Minor          string        `json:"minor"`
	CAdvisor       []cadvisorPin `json:"cadvisor"`
	Unbounded      []string      `json:"unbounded"`
	ReadersBlock   bool          `json:"readersBlock"`
	ContainerdFlag bool          `json:"containerdFlag"`
	Source         string        `json:"source"`

	minor version // parsed Minor
}

// cadvisorPin: from this patch on (until the next pin) the kubelet's go.mod
// requires this cAdvisor release.
type cadvisorPin struct {
	FromPatch int    `json:"fromPatch"`
	Version   string `json:"version"`
}

type hangRow struct {
	Code     string   `json:"code"`
	From     string   `json:"from"`
	Before   string   `json:"before"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Source   string   `json:"source"`

	from, before version
}

// parseTable decodes and validates the data file; every problem is reported.
func parseTable(data []byte) (*table, error) {
	var t table
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("decode advisories: %w", err)
	}
	var errs []error
	if len(t.Kubelet) == 0 {
		errs = append(errs, errors.New("no kubelet rows"))
	}
	for i := range t.Kubelet {
		r := &t.Kubelet[i]
		v, err := parseVersion(r.Minor)
		if err != nil {
			errs = append(errs, fmt.Errorf("kubelet row %d: minor: %w", i, err))
		}
		r.minor = version{major: v.major, minor: v.minor}
		if len(r.CAdvisor) == 0 || r.CAdvisor[0].FromPatch != 0 {
			errs = append(errs, fmt.Errorf("kubelet %s: first cadvisor pin must start at patch 0", r.Minor))
		}
		if !sort.SliceIsSorted(r.CAdvisor, func(a, b int) bool { return r.CAdvisor[a].FromPatch < r.CAdvisor[b].FromPatch }) {
			errs = append(errs, fmt.Errorf("kubelet %s: cadvisor pins not sorted by fromPatch", r.Minor))
		}
		for _, c := range r.Unbounded {
			if _, ok := t.Calls[c]; !ok {
				errs = append(errs, fmt.Errorf("kubelet %s: unknown call %q", r.Minor, c))
			}
		}
		if r.Source == "" {
			errs = append(errs, fmt.Errorf("kubelet %s: no source", r.Minor))
		}
		if i > 0 && !t.Kubelet[i-1].minor.less(r.minor) {
			errs = append(errs, fmt.Errorf("kubelet %s: rows not in ascending order", r.Minor))
		}
	}
	for i := range t.Containerd {
		h := &t.Containerd[i]
		var err error
		if h.from, err = parseVersion(h.From); err != nil {
			errs = append(errs, fmt.Errorf("containerd %s: from: %w", h.Code, err))
		}
		if h.before, err = parseVersion(h.Before); err != nil {
			errs = append(errs, fmt.Errorf("containerd %s: before: %w", h.Code, err))
		}
		if h.Code == "" || h.Message == "" || h.Source == "" {
			errs = append(errs, fmt.Errorf("containerd row %d: code, message and source are required", i))
		}
		switch h.Severity {
		case Info, Warning, Critical:
		default:
			errs = append(errs, fmt.Errorf("containerd %s: unknown severity %q", h.Code, h.Severity))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &t, nil
}

// lookup finds the row of v's minor and the cAdvisor pin of v's patch.
func (t *table) lookup(v version) (KubeletRelease, bool) {
	for _, r := range t.Kubelet {
		if r.minor.major != v.major || r.minor.minor != v.minor {
			continue
		}
		pin := r.CAdvisor[0].Version
		for _, p := range r.CAdvisor {
			if v.patch >= p.FromPatch {
				pin = p.Version
			}
		}
		rel := KubeletRelease{Minor: r.Minor, CAdvisor: pin, ReadersBlock: r.ReadersBlock,
			ContainerdFlag: r.ContainerdFlag, Source: r.Source}
		for _, c := range r.Unbounded {
			d := t.Calls[c]
			rel.Unbounded = append(rel.Unbounded, Call{Name: c, Site: d.Site, GRPC: d.GRPC})
		}
		return rel, true
	}
	return KubeletRelease{}, false
}
