package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ovnet-dev/ovnet/test/testenv"
)

// Stack is the local stack: the API server with the CRDs, and OVN central.
type Stack struct {
	RunDir     string
	API        *testenv.Env
	Central    *Central
	controller *Daemon
}

// Up starts the stack in runDir and writes runDir/env.sh, which sets
// KUBECONFIG, OVN_NB_DB and OVN_SB_DB for kubectl and ovn-nbctl.
func Up(runDir string) (*Stack, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	s := &Stack{RunDir: runDir}
	api, err := testenv.StartEnv()
	if err != nil {
		return nil, err
	}
	s.API = api
	central, err := StartCentral(filepath.Join(runDir, "ovn"))
	if err != nil {
		s.Down()
		return nil, err
	}
	s.Central = central
	kubeconfig := filepath.Join(runDir, "kubeconfig")
	if err := testenv.WriteKubeconfig(api.Config, kubeconfig); err != nil {
		s.Down()
		return nil, err
	}
	env := strings.Join([]string{
		"# source this file: kubectl and ovn-nbctl then talk to the local ovnet stack",
		fmt.Sprintf("export KUBECONFIG=%s", kubeconfig),
		fmt.Sprintf("export OVN_NB_DB=%s", central.NBEndpoint()),
		fmt.Sprintf("export OVN_SB_DB=%s", central.SBEndpoint()),
		fmt.Sprintf("export PATH=%s:$PATH", testenv.Assets()),
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(runDir, "env.sh"), []byte(env), 0o644); err != nil {
		s.Down()
		return nil, err
	}
	return s, nil
}

// Down stops everything the stack started.
func (s *Stack) Down() {
	s.controller.Stop()
	if s.Central != nil {
		s.Central.Stop()
	}
	if s.API != nil {
		s.API.Stop()
	}
}
