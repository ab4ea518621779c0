package checks

import "sync"

// idQueue hands container ids from the list to the sweep workers. It never
// blocks the list: containerd's stream is drained as fast as it comes, so
// the probe never holds a ListStream (and whatever it holds in containerd)
// open for the length of a slow sweep.
type idQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	ids    []string
	next   int
	closed bool
}

func newIDQueue() *idQueue {
	q := &idQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *idQueue) push(id string) {
	q.mu.Lock()
	q.ids = append(q.ids, id)
	q.mu.Unlock()
	q.cond.Signal()
}

// close marks the end of the list and wakes every waiting worker.
func (q *idQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// pop returns the next id, waiting for the list; false once the list is
// closed and every id handed out.
func (q *idQueue) pop() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.next >= len(q.ids) && !q.closed {
		q.cond.Wait()
	}
	if q.next >= len(q.ids) {
		return "", false
	}
	id := q.ids[q.next]
	q.next++
	return id, true
}

// all returns every id pushed so far.
func (q *idQueue) all() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ids
}
