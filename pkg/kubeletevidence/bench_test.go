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
