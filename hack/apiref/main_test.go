package main

import (
	"os"
	"strings"
	"testing"
)

// TestReferenceIsCurrent: docs/api-reference.md is what the CRDs (and so
// the Go types) say today; run make generate after changing a type.
func TestReferenceIsCurrent(t *testing.T) {
	crds, err := readCRDs("../../manifests/crd")
	if err != nil {
		t.Fatal(err)
	}
	want := render(crds)
	got, err := os.ReadFile("../../docs/api-reference.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/api-reference.md is stale: run make generate")
	}
	for _, field := range []string{"`spec.portsPerNetworkInterface`", "`spec.targetSelector`", "`status.pciAddress`"} {
		if !strings.Contains(want, field) {
			t.Errorf("reference lacks %s", field)
		}
	}
}
