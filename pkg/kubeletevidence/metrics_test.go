package kubeletevidence

import (
	"bytes"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	sandboxID = "b7ad567477c83756aab9a542b2be04f77dbae25115d85f22070d74d8cc4779dc"
	probeID   = "ba9c736f19e7f60b7f6764adb0b7908c0a2b394e09b6c09863528c7f2bc86095"
	sidecarID = "6c8b4535ccc87f19061c4646189e33d78f01c8b63dc4e3cb2f630b1796ee93b6"
	podCgroup = "/kcd-node-1/kubepods/besteffort/pod3f1c2b9e-6a0d-4c1e-9b7a-2d5e8f0a1b2c"
)

// scrapeAt is the fixtures' sample time (1796340600000 ms).
var scrapeAt = time.Date(2026, 12, 3, 23, 30, 0, 0, time.UTC)

func parseMetricsFixture(t *testing.T, name string) *CAdvisorMetrics {
	t.Helper()
	m, err := ParseCAdvisorMetrics(bytes.NewReader(readFixture(t, name)), 0)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return m
}

func TestParseCAdvisorMetricsRegistered(t *testing.T) {
	m := parseMetricsFixture(t, "synthetic-metrics-cadvisor-registered.txt")
	if !m.HasScrapeError || m.ScrapeError != 0 || m.Families != 4 || m.Samples != 25 || m.Truncated || m.ParseError != "" {
		t.Errorf("scrape_error %v/%v families %d samples %d truncated %v parse %q",
			m.HasScrapeError, m.ScrapeError, m.Families, m.Samples, m.Truncated, m.ParseError)
	}
	var ids []string
	for _, c := range m.Containers {
		ids = append(ids, c.ID)
	}
	wantIDs := []string{"/", "/kcd-node-1", "/kcd-node-1/kubepods", "/kcd-node-1/kubepods/besteffort", podCgroup,
		podCgroup + "/" + sidecarID, podCgroup + "/" + sandboxID, podCgroup + "/" + probeID}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	probe := m.Containers[7]
	want := ContainerSeries{ID: podCgroup + "/" + probeID, ContainerID: probeID,
		Image: "registry.local/kubectl-cadvisor-doctor-probe:dev", Name: probeID, Container: "probe",
		Pod: "probe-node-1", Namespace: "default", Series: 3,
		NewestSample: scrapeAt.Add(-42 * time.Millisecond), LastSeen: scrapeAt.Add(-time.Second)}
	if diff := cmp.Diff(want, probe); diff != "" {
		t.Errorf("probe container (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Registration{State: RegistrationRegistered, ContainerCgroups: 3, Labeled: 3}, m.Registration()); diff != "" {
		t.Errorf("registration (-want +got):\n%s", diff)
	}
	if got := m.NewestSample(); !got.Equal(scrapeAt) {
		t.Errorf("newest sample %v, want %v", got, scrapeAt)
	}
}

func TestRegistrationAndCoverage(t *testing.T) {
	running := []string{probeID, sidecarID[:12]}
	tests := []struct {
		fixture  string
		wantReg  Registration
		wantCov  Coverage
		wantStal []string
	}{
		{"synthetic-metrics-cadvisor-registered.txt",
			Registration{State: RegistrationRegistered, ContainerCgroups: 3, Labeled: 3},
			Coverage{Running: 2, WithSeries: 2, Labeled: 2}, nil},
		{"synthetic-metrics-cadvisor-unregistered.txt",
			Registration{State: RegistrationNotRegistered, ContainerCgroups: 3, Unlabeled: 3, UnlabeledIDs: []string{sidecarID, sandboxID, probeID}},
			Coverage{Running: 2, WithSeries: 2, Unlabeled: []string{probeID, sidecarID[:12]}}, nil},
		{"synthetic-metrics-cadvisor-stalled.txt",
			Registration{State: RegistrationNoContainers},
			Coverage{Running: 2, Missing: []string{probeID, sidecarID[:12]}}, []string{podCgroup}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			m := parseMetricsFixture(t, tc.fixture)
			if diff := cmp.Diff(tc.wantReg, m.Registration()); diff != "" {
				t.Errorf("registration (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCov, m.Coverage(running)); diff != "" {
				t.Errorf("coverage (-want +got):\n%s", diff)
			}
			var stale []string
			for _, c := range m.Stale(scrapeAt.Add(5*time.Second), time.Minute) {
				stale = append(stale, c.ID)
			}
			if diff := cmp.Diff(tc.wantStal, stale); diff != "" {
				t.Errorf("stale (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCAdvisorMetricsDamaged(t *testing.T) {
	full := string(readFixture(t, "synthetic-metrics-cadvisor-registered.txt"))
	cutInLine := strings.Index(full, "container_memory_working_set_bytes{") + 40
	tests := []struct {
		name          string
		in            string
		max           int64
		wantErr       error
		wantTruncated bool
		wantParseErr  bool
		wantContainer int
	}{
		{"cut inside a line", full[:cutInLine], 0, nil, true, false, 8},
		{"max bytes", full, int64(cutInLine), nil, true, false, 8},
		{"garbage after good lines", full[:cutInLine-40] + "container_last_seen{id=\"/x\" }}}{{ not a metric\n", 0, nil, false, true, 8},
		{"lines of other families are skipped unparsed", full[:cutInLine-40] + "}}}{{ not a metric\n", 0, nil, false, false, 8},
		{"bad first line", "container_last_seen{id=\"/x\" }}}\n" + full, 0, ErrNoMetrics, false, true, 0},
		{"empty", "", 0, ErrNoMetrics, false, false, 0},
		{"html", "<html><body>Forbidden</body></html>\n", 0, ErrNoMetrics, false, false, 0},
		{"only comments", "# HELP x y\n# TYPE x gauge\n", 0, ErrNoMetrics, false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseCAdvisorMetrics(strings.NewReader(tc.in), tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if m.Truncated != tc.wantTruncated || (m.ParseError != "") != tc.wantParseErr || len(m.Containers) != tc.wantContainer {
				t.Errorf("truncated %v parseError %q containers %d; want %v %v %d",
					m.Truncated, m.ParseError, len(m.Containers), tc.wantTruncated, tc.wantParseErr, tc.wantContainer)
			}
		})
	}
}

func TestContainerIDFromCgroup(t *testing.T) {
	for in, want := range map[string]string{
		podCgroup + "/" + probeID: probeID,
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-" + probeID + ".scope": probeID,
		podCgroup:                        "",
		"/":                              "",
		"/x/" + strings.ToUpper(probeID): "",
		"/x/" + probeID[:63] + "g":       "",
	} {
		if got := containerIDFromCgroup(in); got != want {
			t.Errorf("containerIDFromCgroup(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestKeptFamiliesSeeEveryCgroup: parsing only keptFamilies loses no cgroup
// that any container_* family of the fixture names.
func TestKeptFamiliesSeeEveryCgroup(t *testing.T) {
	idRE := regexp.MustCompile(`^container_[^{]*\{.*\bid="([^"]*)"`)
	files, _ := filepath.Glob("testdata/*metrics-cadvisor*.txt")
	if len(files) < 6 {
		t.Fatalf("only %d metrics fixtures", len(files))
	}
	for _, f := range files {
		body := readFixture(t, filepath.Base(f))
		ids := map[string]bool{}
		for _, line := range strings.Split(string(body), "\n") {
			if m := idRE.FindStringSubmatch(line); m != nil {
				ids[m[1]] = true
			}
		}
		m, err := ParseCAdvisorMetrics(bytes.NewReader(body), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Containers) != len(ids) {
			t.Errorf("%s: %d cgroups parsed, %d named in the file", f, len(m.Containers), len(ids))
		}
	}
}
