package patch

import (
	"reflect"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Behind reports whether obj, just read from the cache, is a version this
// process has since written over (with Status or Object): the cache has
// not seen the write yet, and a reconcile of obj would compute the same
// write again and lose a conflict. The write's own event brings obj back;
// the caller returns with BehindRetry as a fallback.
func Behind(obj client.Object) bool { return written.holds(obj) }

// BehindRetry is when an object found Behind is looked at again should
// its write's event not come (it always does, unless the watch restarts).
const BehindRetry = 2 * time.Second

// staleVersions remembers, per object, the resourceVersions this process
// wrote over: a cache still holding one of them has not seen the write.
type staleVersions struct {
	mu sync.Mutex
	m  map[staleKey]*staleEntry
	n  int
}

type staleKey struct {
	kind      reflect.Type
	namespace string
	name      string
}

type staleEntry struct {
	versions [4]string // the last writes' starting versions
	next     int
	at       time.Time
}

// staleFor bounds how long a write's starting version is remembered: the
// cache sees a write within moments.
const staleFor = 30 * time.Second

var written = &staleVersions{m: map[staleKey]*staleEntry{}}

func keyOf(obj client.Object) staleKey {
	return staleKey{kind: reflect.TypeOf(obj), namespace: obj.GetNamespace(), name: obj.GetName()}
}

// remember records that before (its resourceVersion) was written over.
func (s *staleVersions) remember(before client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.n++; s.n%1024 == 0 {
		for k, e := range s.m {
			if now.Sub(e.at) > staleFor {
				delete(s.m, k)
			}
		}
	}
	k := keyOf(before)
	e := s.m[k]
	if e == nil {
		e = &staleEntry{}
		s.m[k] = e
	}
	e.versions[e.next%len(e.versions)] = before.GetResourceVersion()
	e.next++
	e.at = now
}

// holds reports whether obj's resourceVersion was written over lately.
func (s *staleVersions) holds(obj client.Object) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := keyOf(obj)
	e := s.m[k]
	if e == nil {
		return false
	}
	if time.Since(e.at) > staleFor {
		delete(s.m, k)
		return false
	}
	rv := obj.GetResourceVersion()
	for _, v := range e.versions {
		if v != "" && v == rv {
			return true
		}
	}
	return false
}
