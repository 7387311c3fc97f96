package v1alpha1

import (
	"math/rand/v2"
	"net/netip"
	"regexp"
	"testing"
)

// nameRule is the IPv6 branch of the IPAddress name rule in the CRD.
var nameRule = regexp.MustCompile(`^(0|[1-9a-f][0-9a-f]{0,3})(-(0|[1-9a-f][0-9a-f]{0,3})){7}$`)

// dnsSubdomain is what the API server requires of an object name.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func TestIPAddressNameRoundTrip(t *testing.T) {
	fixed := map[string]string{
		"::":             "0-0-0-0-0-0-0-0",
		"::1":            "0-0-0-0-0-0-0-1",
		"fd00::":         "fd00-0-0-0-0-0-0-0",
		"2001:db8::":     "2001-db8-0-0-0-0-0-0",
		"2001:db8::1":    "2001-db8-0-0-0-0-0-1",
		"::ffff:1.2.3.4": "0-0-0-0-0-ffff-102-304",
		"10.0.0.5":       "10.0.0.5",
		"0.0.0.0":        "0.0.0.0",
	}
	for text, want := range fixed {
		a := netip.MustParseAddr(text)
		if got := IPAddressName(a); got != want {
			t.Errorf("IPAddressName(%s) = %q, want %q", text, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var b [16]byte
		for j := range b {
			// Mostly zero bytes, so that "::" runs at both ends are common.
			if r.IntN(3) == 0 {
				b[j] = byte(r.IntN(256))
			}
		}
		a := netip.AddrFrom16(b)
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
		}
		name := IPAddressName(a)
		if !dnsSubdomain.MatchString(name) || len(name) > 63 {
			t.Fatalf("%s: name %q is not a valid object name or label value", a, name)
		}
		if a.Is6() && !nameRule.MatchString(name) {
			t.Fatalf("%s: name %q does not pass the CRD's name rule", a, name)
		}
		back, err := ParseIPAddressName(name)
		if err != nil || back != a {
			t.Fatalf("%s: ParseIPAddressName(%q) = %v, %v", a, name, back, err)
		}
	}
}

func TestParseIPAddressNameRejectsOtherSpellings(t *testing.T) {
	for _, name := range []string{"2001-db8--1", "fd00--", "2001-0db8-0-0-0-0-0-1", "2001-DB8-0-0-0-0-0-1", "10.0.0.05", "1-2-3", "0-0-0-0-0-0-0-0-0", "", "not-an-ip"} {
		if a, err := ParseIPAddressName(name); err == nil {
			t.Errorf("ParseIPAddressName(%q) = %s, want an error", name, a)
		}
	}
}
