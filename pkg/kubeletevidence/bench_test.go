package kubeletevidence

import (
	"bytes"
	"fmt"
	"regexp"
	"testing"
)

// syntheticDump repeats the fixture's goroutines with fresh ids until the
// dump reaches size bytes: a kubelet with tens of thousands of goroutines.
func syntheticDump(b testing.TB, size int) []byte {
	tmpl := readFixture(b, "synthetic-goroutine-stalled-taskpid.txt")
	hdr := regexp.MustCompile(`(?m)^goroutine \d+ `)
	var out bytes.Buffer
	for id := 1; out.Len() < size; {
		out.Write(hdr.ReplaceAllFunc(tmpl, func([]byte) []byte { id++; return []byte(fmt.Sprintf("goroutine %d ", id)) }))
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// BenchmarkParseGoroutines10MB: go test -run '^$' -bench ParseGoroutines -benchmem ./pkg/kubeletevidence
func BenchmarkParseGoroutines10MB(b *testing.B) {
	dump := syntheticDump(b, 10<<20)
	b.SetBytes(int64(len(dump)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d, err := ParseGoroutines(bytes.NewReader(dump), ParseOptions{})
		if err != nil || len(d.Blocked) == 0 {
			b.Fatalf("%v %d", err, len(d.Blocked))
		}
	}
}

func TestSyntheticDumpParses(t *testing.T) {
	dump := syntheticDump(t, 1<<20)
	d, err := ParseGoroutines(bytes.NewReader(dump), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	copies := bytes.Count(dump, []byte("(*client).TaskPid(")) / 2
	if d.Goroutines != copies*8 || len(d.Blocked) != copies*3 || d.Truncated {
		t.Errorf("%d copies: got %d goroutines, %d blocked, truncated %v", copies, d.Goroutines, len(d.Blocked), d.Truncated)
	}
}

// syntheticMetrics repeats the captured pod scrape with distinct cgroup ids
// (a node with many containers) until it reaches size bytes.
func syntheticMetrics(b testing.TB, size int) []byte {
	tmpl := readFixture(b, "captured-node-1-pod-metrics-cadvisor.txt")
	var out bytes.Buffer
	var help []byte
	for i := 0; out.Len() < size; i++ {
		for _, line := range bytes.SplitAfter(tmpl, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("#")) {
				if i == 0 {
					help = append(help, line...)
				}
				continue
			}
			if !bytes.Contains(line, []byte(`id="`)) {
				if i == 0 {
					out.Write(line)
				}
				continue
			}
			out.Write(bytes.Replace(line, []byte(`id="`), []byte(fmt.Sprintf(`id="/c%05d`, i)), 1))
		}
	}
	_ = help // families without HELP/TYPE parse as untyped: same work per sample
	return out.Bytes()
}

// BenchmarkParseCAdvisorMetrics8MB: go test -run '^$' -bench CAdvisorMetrics -benchmem ./pkg/kubeletevidence
func BenchmarkParseCAdvisorMetrics8MB(b *testing.B) {
	body := syntheticMetrics(b, 8<<20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m, err := ParseCAdvisorMetrics(bytes.NewReader(body), 0)
		if err != nil || len(m.Containers) == 0 {
			b.Fatalf("%v %d", err, len(m.Containers))
		}
	}
}
