package checks

import (
	"math"
	"slices"
	"time"
)

// Message limits kubelets apply to containerd responses: cAdvisor before
// v0.48 (Kubernetes <= 1.28) receives at most 4 MiB, later ones 16 MiB;
// containerd itself sends at most 16 MiB.
const (
	limit4MiB  = 4 << 20
	limit16MiB = 16 << 20
	// nearFraction: a response above this share of a limit is flagged.
	nearFraction = 0.75
)

// nearLimit names the message limit a response of n bytes comes close to
// (or exceeds), or "".
func nearLimit(n int) string {
	switch {
	case float64(n) >= nearFraction*limit16MiB:
		return "16MiB"
	case float64(n) >= nearFraction*limit4MiB:
		return "4MiB"
	}
	return ""
}

// percentile is the nearest-rank percentile of sorted (0 < p <= 100).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// outcome classifies one call.
type outcome int

const (
	outcomeOK       outcome = iota
	outcomeNotFound         // answered NotFound: fine (a container without a task)
	outcomeTimeout          // hit its own per-call deadline
	outcomeError            // any other error
	outcomeCut              // cut short by the probe's own --timeout: not counted
)

// methodStats accumulates the calls of one method. Each sweep worker has
// its own, merged at the end, so the hot path takes no lock.
type methodStats struct {
	method string
	lat    []time.Duration

	count, ok, timeouts, errors, notFound, unknown int

	max        time.Duration
	maxID      string
	maxBytes   int
	firstErr   string
	firstErrID string
}

func (m *methodStats) add(id string, d time.Duration, o outcome, size int, err error) {
	if o == outcomeCut {
		return
	}
	m.count++
	m.lat = append(m.lat, d)
	if d > m.max {
		m.max, m.maxID = d, id
	}
	m.maxBytes = max(m.maxBytes, size)
	switch o {
	case outcomeOK:
		m.ok++
	case outcomeNotFound:
		m.ok++
		m.notFound++
	case outcomeTimeout:
		m.timeouts++
	case outcomeError:
		m.errors++
		if m.firstErr == "" && err != nil {
			m.firstErr, m.firstErrID = callError(err), id
		}
	}
}

func (m *methodStats) merge(o *methodStats) {
	m.count += o.count
	m.ok += o.ok
	m.timeouts += o.timeouts
	m.errors += o.errors
	m.notFound += o.notFound
	m.unknown += o.unknown
	m.lat = append(m.lat, o.lat...)
	if o.max > m.max {
		m.max, m.maxID = o.max, o.maxID
	}
	m.maxBytes = max(m.maxBytes, o.maxBytes)
	if m.firstErr == "" {
		m.firstErr, m.firstErrID = o.firstErr, o.firstErrID
	}
}

func (m *methodStats) stats() CallStats {
	slices.Sort(m.lat)
	return CallStats{
		Method:       m.method,
		Count:        m.count,
		OK:           m.ok,
		Timeouts:     m.timeouts,
		Errors:       m.errors,
		NotFound:     m.notFound,
		Unknown:      m.unknown,
		P50Ms:        ms(percentile(m.lat, 50)),
		P99Ms:        ms(percentile(m.lat, 99)),
		MaxMs:        ms(m.max),
		MaxID:        m.maxID,
		MaxBytes:     m.maxBytes,
		NearLimit:    nearLimit(m.maxBytes),
		FirstError:   m.firstErr,
		FirstErrorID: m.firstErrID,
	}
}
