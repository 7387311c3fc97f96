package ovn

import (
	"context"
	"sync"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// maxBatch bounds how many Applies share one transaction.
const maxBatch = 64

// batcher is the group commit of Apply: while one transaction is in
// flight, the Applies that come meanwhile wait and then go together in
// the next one. Under load (a cold start: hundreds of reconciles at once)
// the NB database and northd see a few large transactions instead of one
// per object; alone, an Apply goes at once. Each Apply's operations only
// touch its owner's rows and mutate the parents' reference sets, so they
// compose; when a shared transaction fails, each Apply in it is sent
// again alone, so that an error belongs to the Apply that caused it.
type batcher struct {
	mu       sync.Mutex
	queue    []*job
	inFlight bool
}

type job struct {
	ops  []ovsdb.Operation
	err  error
	done chan struct{} // closed when the job's transaction is over
	lead chan struct{} // closed when the job is to send the next batch
}

// commit sends ops in the next transaction and returns its outcome for them.
func (c *Client) commit(ctx context.Context, ops []ovsdb.Operation) error {
	j := &job{ops: ops, done: make(chan struct{}), lead: make(chan struct{})}
	b := &c.batch
	b.mu.Lock()
	b.queue = append(b.queue, j)
	leader := !b.inFlight
	b.inFlight = true
	b.mu.Unlock()
	if !leader {
		select {
		case <-j.done:
			return j.err
		case <-j.lead:
		}
	}
	c.sendBatch(ctx)
	<-j.done
	return j.err
}

// sendBatch sends the jobs at the head of the queue (the caller's own
// first) in one transaction, then hands the next batch to the job now at
// the head, or ends the flight.
func (c *Client) sendBatch(ctx context.Context) {
	b := &c.batch
	b.mu.Lock()
	n := min(len(b.queue), maxBatch)
	jobs := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	if len(jobs) == 1 {
		_, jobs[0].err = c.Transact(ctx, jobs[0].ops...)
	} else {
		var all []ovsdb.Operation
		for _, j := range jobs {
			all = append(all, j.ops...)
		}
		// Not the leader's own context: its cancellation must not fail the others.
		if _, err := c.Transact(context.WithoutCancel(ctx), all...); err != nil {
			for _, j := range jobs {
				_, j.err = c.Transact(ctx, j.ops...)
			}
		}
	}
	for _, j := range jobs {
		close(j.done)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.inFlight = false
		return
	}
	close(b.queue[0].lead)
}
