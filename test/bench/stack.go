package main

import (
	"context"
	"os"
	"time"

	"github.com/go-logr/logr"

	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// benchStack is a real kube-apiserver, OVN NB + SB + northd, ovnet's
// controllers in this process, and an NB client of the benchmark's own
// that watches what the database holds.
type benchStack struct {
	env      *testenv.Env
	central  *devstack.Central
	ctrls    *devstack.InProcess
	watch    *ovn.Client
	requests *requestCounter
	stop     func()
}

func startBenchStack(ctx context.Context) (*benchStack, error) {
	s := &benchStack{requests: &requestCounter{}}
	var cleanups []func()
	s.stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	fail := func(err error) (*benchStack, error) { s.stop(); return nil, err }
	env, err := devstack.StartEnv()
	if err != nil {
		return nil, err
	}
	s.env = env
	cleanups = append(cleanups, env.Stop)
	dir, err := os.MkdirTemp("/tmp", "bnat")
	if err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	if s.central, err = devstack.StartCentral(dir); err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, s.central.Stop)
	done := make(chan struct{})
	cleanups = append(cleanups, func() { close(done) })
	go s.requests.report(10*time.Second, done)
	if err := s.startControllers(); err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, func() { s.ctrls.Stop() })
	if s.watch, err = ovn.ConnectNB(ctx, ovn.Config{Endpoints: []string{s.central.NBEndpoint()}, Logger: logr.Discard()}); err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, s.watch.Close)
	return s, nil
}

// startControllers (re)starts ovnet's controllers.
func (s *benchStack) startControllers() error {
	if s.ctrls != nil {
		s.ctrls.Stop()
	}
	ctrls, err := devstack.StartInProcess(s.requests.wrap(s.env.Config), s.central, devstack.TestProvider(), 200, 300)
	if err != nil {
		return err
	}
	s.ctrls = ctrls
	return nil
}
