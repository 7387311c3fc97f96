package main

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// requestCounter counts API requests by verb and resource (names and
// namespaces stripped), to see what a controller asks the API server for.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

var resourcePath = regexp.MustCompile(`/apis/[^/]+/[^/]+/(namespaces/[^/]+/)?([a-z]+)(/[^/?]+)?(/status)?`)

func (c *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			key := req.Method + " ?"
			if m := resourcePath.FindStringSubmatch(req.URL.Path); m != nil {
				key = req.Method + " " + m[2] + m[4]
				if m[3] == "" && req.Method == http.MethodGet {
					key += " (list/watch)"
				}
			}
			c.mu.Lock()
			if c.counts == nil {
				c.counts = map[string]int{}
			}
			c.counts[key]++
			c.mu.Unlock()
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

// report prints the counts every interval to stderr when OVNET_BENCH_REQUESTS is set.
func (c *requestCounter) report(interval time.Duration, stop <-chan struct{}) {
	if os.Getenv("OVNET_BENCH_REQUESTS") == "" {
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		c.mu.Lock()
		keys := make([]string, 0, len(c.counts))
		for k := range c.counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return c.counts[keys[i]] > c.counts[keys[j]] })
		for _, k := range keys[:min(12, len(keys))] {
			fmt.Fprintf(os.Stderr, "%8d %s\n", c.counts[k], k)
		}
		fmt.Fprintln(os.Stderr, "--")
		c.mu.Unlock()
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
