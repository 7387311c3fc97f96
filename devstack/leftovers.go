package devstack

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The API server and etcd are started by envtest, which gives them no
// parent-death signal: when the stack's process is killed (a crash, kill -9)
// they keep running. Up records them in RunDir, and the next Up (or
// ovnet-dev stop) in the same directory ends them. Every other process of
// the stack dies with it.
const apiProcessesFile = "api-processes"

// recordAPIProcesses writes the PIDs of this process's kube-apiserver and
// etcd children into runDir.
func recordAPIProcesses(runDir string) error {
	var pids []string
	for _, pid := range childrenOf(os.Getpid()) {
		if isAPIProcess(pid) {
			pids = append(pids, strconv.Itoa(pid))
		}
	}
	return os.WriteFile(filepath.Join(runDir, apiProcessesFile), []byte(strings.Join(pids, "\n")), 0o644)
}

// EndLeftovers kills the API server and etcd a killed stack left in runDir
// (only while they are still those binaries: a PID can be reused) and
// removes their data directories.
func EndLeftovers(runDir string) {
	file := filepath.Join(runDir, apiProcessesFile)
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || !isAPIProcess(pid) {
			continue
		}
		dirs := dataDirs(pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}
	_ = os.Remove(file)
}

// childrenOf lists the PIDs whose parent is ppid.
func childrenOf(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if fields := strings.Fields(string(stat)[i+1:]); i > 0 && len(fields) > 1 && fields[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// isAPIProcess reports whether pid runs the kube-apiserver or etcd of Assets.
func isAPIProcess(pid int) bool {
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		return false
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if want, err := filepath.EvalSymlinks(filepath.Join(Assets(), bin)); err == nil && exe == want {
			return true
		}
	}
	return false
}

// dataDirs are the envtest directories a process was started with.
func dataDirs(pid int) []string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	var out []string
	for _, arg := range strings.Split(string(b), "\x00") {
		if _, v, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(filepath.Base(v), "k8s_test_framework_") {
			out = append(out, v)
		}
	}
	return out
}
