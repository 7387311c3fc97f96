package devstack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// controllerManager is kube-controller-manager with the two controllers
// ovnet relies on from Kubernetes: the garbage collector (owner references:
// a LoadBalancer's DaemonSet and routing, a DaemonSet's Instances, a
// claimer's IPs, a NATGateway's NATTable, a policy's rule) and the
// namespace controller (kubectl delete namespace empties it).
type controllerManager struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan error
}

// startControllerManager runs kube-controller-manager from assets against
// the API server of kubeconfig, logging to logFile. It dies with this
// process (a crashed stack leaves no controller manager behind).
func startControllerManager(assets, kubeconfig, logFile string) (*controllerManager, error) {
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kube-controller-manager not found in %s (run hack/build-envtest.sh or make test): %w", assets, err)
	}
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--controllers=garbagecollector,namespace",
		"--leader-elect=false",
		// Nothing scrapes it: no serving port, so no authentication setup.
		"--secure-port=0",
		"--concurrent-gc-syncs=5",
		"--concurrent-namespace-syncs=5",
		"-v=1")
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig follows the thread that started the child: this goroutine
	// keeps its thread for the child's whole life.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cm := &controllerManager{stop: make(chan struct{}), done: make(chan error, 1)}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer log.Close()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start kube-controller-manager: %w", err)
			return
		}
		started <- nil
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-cm.stop:
			_ = cmd.Process.Kill()
			cm.done <- <-exited
		case err := <-exited:
			cm.done <- fmt.Errorf("kube-controller-manager exited (log: %s): %v", logFile, err)
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return cm, nil
}

// Stop ends the controller manager and waits for it; later calls do nothing.
func (cm *controllerManager) Stop() {
	cm.stopOnce.Do(func() {
		close(cm.stop)
		<-cm.done
	})
}
