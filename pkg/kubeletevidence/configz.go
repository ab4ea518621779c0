package kubeletevidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// KubeletConfig is the part of the kubelet's /configz that check uses.
type KubeletConfig struct {
	// ContainerRuntimeEndpoint is the kubelet's CRI endpoint
	// ("unix:///run/containerd/containerd.sock"); its embedded cAdvisor does
	// not use it (docs/cadvisor-stalls.md).
	ContainerRuntimeEndpoint string `json:"containerRuntimeEndpoint"`
	ImageServiceEndpoint     string `json:"imageServiceEndpoint,omitempty"`
	// RuntimeRequestTimeout bounds the kubelet's CRI calls (default 2m).
	RuntimeRequestTimeout time.Duration `json:"runtimeRequestTimeout"`
	// EnableDebuggingHandlers and EnableProfilingHandler gate
	// /debug/pprof (both needed) and /configz itself (the first); nil when
	// the field was absent.
	EnableDebuggingHandlers *bool           `json:"enableDebuggingHandlers,omitempty"`
	EnableProfilingHandler  *bool           `json:"enableProfilingHandler,omitempty"`
	CgroupDriver            string          `json:"cgroupDriver,omitempty"`
	CgroupRoot              string          `json:"cgroupRoot,omitempty"`
	FeatureGates            map[string]bool `json:"featureGates,omitempty"`
}

// configzDoc is the /configz body: {"kubeletconfig": {...}}.
type configzDoc struct {
	KubeletConfig *struct {
		ContainerRuntimeEndpoint string          `json:"containerRuntimeEndpoint"`
		ImageServiceEndpoint     string          `json:"imageServiceEndpoint"`
		RuntimeRequestTimeout    string          `json:"runtimeRequestTimeout"`
		EnableDebuggingHandlers  *bool           `json:"enableDebuggingHandlers"`
		EnableProfilingHandler   *bool           `json:"enableProfilingHandler"`
		CgroupDriver             string          `json:"cgroupDriver"`
		CgroupRoot               string          `json:"cgroupRoot"`
		FeatureGates             map[string]bool `json:"featureGates"`
	} `json:"kubeletconfig"`
}

// ErrNoKubeletConfig: the body is JSON but has no "kubeletconfig" object.
var ErrNoKubeletConfig = errors.New(`/configz has no "kubeletconfig" object`)

// ParseConfigz decodes the kubelet's /configz, at most maxBytes of it (0: 4 MiB).
func ParseConfigz(r io.Reader, maxBytes int64) (*KubeletConfig, error) {
	if maxBytes <= 0 {
		maxBytes = 4 << 20
	}
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read /configz: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, fmt.Errorf("/configz larger than %d bytes", maxBytes)
	}
	var doc configzDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode /configz: %w", err)
	}
	kc := doc.KubeletConfig
	if kc == nil {
		return nil, ErrNoKubeletConfig
	}
	c := &KubeletConfig{
		ContainerRuntimeEndpoint: kc.ContainerRuntimeEndpoint,
		ImageServiceEndpoint:     kc.ImageServiceEndpoint,
		EnableDebuggingHandlers:  kc.EnableDebuggingHandlers,
		EnableProfilingHandler:   kc.EnableProfilingHandler,
		CgroupDriver:             kc.CgroupDriver,
		CgroupRoot:               kc.CgroupRoot,
		FeatureGates:             kc.FeatureGates,
	}
	if kc.RuntimeRequestTimeout != "" {
		d, err := time.ParseDuration(kc.RuntimeRequestTimeout)
		if err != nil {
			return nil, fmt.Errorf("decode /configz runtimeRequestTimeout: %w", err)
		}
		c.RuntimeRequestTimeout = d
	}
	return c, nil
}

// RuntimeSocketPath turns the CRI endpoint into a socket path:
// "unix:///run/k3s/containerd/containerd.sock" and a bare absolute path both
// give "/run/k3s/containerd/containerd.sock". An empty endpoint or another
// scheme (npipe, tcp) is an error.
func (c KubeletConfig) RuntimeSocketPath() (string, error) {
	ep := c.ContainerRuntimeEndpoint
	switch {
	case ep == "":
		return "", errors.New("kubelet has no containerRuntimeEndpoint")
	case strings.HasPrefix(ep, "unix://"):
		p := strings.TrimPrefix(ep, "unix://")
		if !strings.HasPrefix(p, "/") {
			return "", fmt.Errorf("containerRuntimeEndpoint %q is not an absolute unix socket path", ep)
		}
		return p, nil
	case strings.HasPrefix(ep, "/"):
		return ep, nil
	}
	return "", fmt.Errorf("containerRuntimeEndpoint %q is not a unix socket", ep)
}

// ProfilingEnabled tells whether /debug/pprof should answer: the kubelet
// installs it only with enableDebuggingHandlers and enableProfilingHandler
// (both default true). reason names the field that turns it off.
func (c KubeletConfig) ProfilingEnabled() (enabled bool, reason string) {
	if c.EnableDebuggingHandlers != nil && !*c.EnableDebuggingHandlers {
		return false, "kubelet enableDebuggingHandlers is false"
	}
	if c.EnableProfilingHandler != nil && !*c.EnableProfilingHandler {
		return false, "kubelet enableProfilingHandler is false"
	}
	return true, ""
}

// FeatureGate returns the gate's explicit setting, or def when not set
// (configz lists only the gates set on the kubelet).
func (c KubeletConfig) FeatureGate(name string, def bool) bool {
	if v, ok := c.FeatureGates[name]; ok {
		return v
	}
	return def
}
