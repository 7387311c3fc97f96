// Package allocation hands out public IPs and network IDs (VNIs) that are
// never handed out twice: each value is taken by creating a cluster-scoped
// lock object named after it (IPAddress, NetworkID), and the API server's
// name uniqueness is the lock. Candidates come from an in-memory view of the
// taken values, fed by the informer, so the cost per allocation stays flat as
// a pool fills; a stale view only costs an AlreadyExists and a next candidate.
package ipam

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
)

// ParsePrefixes reads --public-prefix values (repeatable, comma-separated),
// keeping their order.
func ParsePrefixes(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("public prefix %q: %w", s, err)
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// IPPool is the public prefixes of one controller, per family in flag order,
// and the addresses known to be taken.
type IPPool struct {
	taken[netip.Addr]
	prefixes map[corev1.IPFamily][]netip.Prefix
	tries    atomic.Int64
}

// Tries is the number of candidates offered so far (each costs one create
// request); divided by the allocations it shows whether the view of taken
// addresses keeps the cost flat.
func (p *IPPool) Tries() int64 { return p.tries.Load() }

// NewIPPool groups prefixes by family, keeping their order.
func NewIPPool(prefixes []netip.Prefix) *IPPool {
	p := &IPPool{prefixes: map[corev1.IPFamily][]netip.Prefix{}}
	for _, pfx := range prefixes {
		f := corev1.IPv4Protocol
		if pfx.Addr().Is6() {
			f = corev1.IPv6Protocol
		}
		p.prefixes[f] = append(p.prefixes[f], pfx)
	}
	return p
}

// Prefixes returns the prefixes of a family.
func (p *IPPool) Prefixes(f corev1.IPFamily) []netip.Prefix { return p.prefixes[f] }

// Contains reports whether addr lies in a prefix of its family (network and
// broadcast addresses included, as in the original).
func (p *IPPool) Contains(addr netip.Addr) bool {
	for _, list := range p.prefixes {
		for _, pfx := range list {
			if pfx.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// Used counts the taken addresses inside pfx.
func (p *IPPool) Used(pfx netip.Prefix) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for a := range p.values {
		if pfx.Contains(a) {
			n++
		}
	}
	return n
}

// Full reports whether every address of family f's prefixes is taken (a
// prefix of more than 2^20 addresses never is: Candidates walks at most
// that many of it).
func (p *IPPool) Full(f corev1.IPFamily) bool {
	for _, pfx := range p.prefixes[f] {
		size := prefixSize(pfx)
		if !size.IsInt64() || size.Int64() > 1<<20 || int64(p.Used(pfx)) < size.Int64() {
			return false
		}
	}
	return true
}

// Candidates calls try with free-looking addresses of family f: prefixes in
// flag order, in each a random start and a walk upwards with wrap-around over
// every address. It stops when try returns true (taken by us) and reports
// whether any try succeeded.
func (p *IPPool) Candidates(f corev1.IPFamily, try func(netip.Addr) (bool, error)) (bool, error) {
	for _, pfx := range p.prefixes[f] {
		size := prefixSize(pfx)
		start := randBelow(size)
		// The walk is bounded by the prefix size; for large IPv6 prefixes
		// it gives up after a bounded number of taken candidates.
		limit := size
		if limit.Cmp(big.NewInt(1<<20)) > 0 {
			limit = big.NewInt(1 << 20)
		}
		off := new(big.Int).Set(start)
		for i := new(big.Int); i.Cmp(limit) < 0; i.Add(i, big.NewInt(1)) {
			addr := addrAt(pfx, off)
			off.Add(off, big.NewInt(1))
			if off.Cmp(size) >= 0 {
				off.SetInt64(0)
			}
			if p.IsTaken(addr) {
				continue
			}
			p.tries.Add(1)
			ok, err := try(addr)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
			p.MarkTaken(addr) // someone else had it; our view was stale
		}
	}
	return false, nil
}

func prefixSize(p netip.Prefix) *big.Int {
	return new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
}

func randBelow(n *big.Int) *big.Int {
	if n.IsInt64() {
		return big.NewInt(rand.Int64N(n.Int64()))
	}
	b := make([]byte, (n.BitLen()+7)/8)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	return new(big.Int).Mod(new(big.Int).SetBytes(b), n)
}

func addrAt(p netip.Prefix, off *big.Int) netip.Addr {
	base := new(big.Int).SetBytes(p.Addr().AsSlice())
	base.Add(base, off)
	buf := base.FillBytes(make([]byte, p.Addr().BitLen()/8))
	a, _ := netip.AddrFromSlice(buf)
	return a
}

// IDPool is the VNI range [min, max] and the IDs known to be taken.
type IDPool struct {
	taken[int64]
	Min, Max int64
}

// NewIDPool checks the range: 0 ≤ min < max.
func NewIDPool(minID, maxID int64) (*IDPool, error) {
	if minID < 0 || maxID <= 0 || minID >= maxID {
		return nil, fmt.Errorf("VNI range [%d, %d]: want 0 <= min < max", minID, maxID)
	}
	return &IDPool{Min: minID, Max: maxID}, nil
}

// Contains reports whether id is in the range.
func (p *IDPool) Contains(id int64) bool { return id >= p.Min && id <= p.Max }

// Candidates walks the range from a random start with wrap-around, like
// IPPool.Candidates.
func (p *IDPool) Candidates(try func(int64) (bool, error)) (bool, error) {
	size := p.Max - p.Min + 1
	off := rand.Int64N(size)
	for range size {
		id := p.Min + off
		off = (off + 1) % size
		if p.IsTaken(id) {
			continue
		}
		ok, err := try(id)
		if err != nil || ok {
			return ok, err
		}
		p.MarkTaken(id)
	}
	return false, nil
}

// taken is a pool's view of the values held by lock objects: fed by the
// informer (feed), and marked at once by the allocator that created a lock.
type taken[V comparable] struct {
	mu     sync.RWMutex
	values map[V]struct{}
}

func (t *taken[V]) MarkTaken(v V) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.values == nil {
		t.values = map[V]struct{}{}
	}
	t.values[v] = struct{}{}
}

func (t *taken[V]) MarkFree(v V) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.values, v)
}

// IsTaken reports whether the view holds v as taken.
func (t *taken[V]) IsTaken(v V) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.values[v]
	return ok
}
