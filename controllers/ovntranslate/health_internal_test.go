package ovntranslate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseHealthCheck(t *testing.T) {
	for value, want := range map[string]string{
		"":                                       "5 2 1 3 []",
		"true":                                   "5 2 1 3 []",
		"port=80,port=8080,interval=2,failure=2": "2 2 1 2 [80 8080]",
		" interval = 10 , timeout=10 , success=2 ": "10 10 2 3 []",
		"interval=2,timeout=3":                     "error: timeout=3 is longer than interval=2",
		"port=0":                                   "error: port=0: want 1..65535",
		"interval=x":                               "error: \"interval=x\": want key=number",
		"every=5":                                  "error: unknown key \"every\"",
	} {
		hc, err := parseHealthCheck(value)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = fmt.Sprintf("%d %d %d %d %v", hc.Interval, hc.Timeout, hc.SuccessCount, hc.FailureCount, hc.Ports)
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("parseHealthCheck(%q) = %q, want %q", value, got, want)
		}
	}
}

func TestOfflineIn(t *testing.T) {
	msg := offlinePrefix + "ns/a 10.0.0.1:80/tcp, ns/b 10.0.0.2:80/tcp; 1 probed backends online, 0 not probed yet"
	if got := offlineIn(msg); !slices.Equal(got, []string{"ns/a 10.0.0.1:80/tcp", "ns/b 10.0.0.2:80/tcp"}) {
		t.Errorf("offlineIn = %q", got)
	}
	if got := offlineIn("2 probed backends online, 0 not probed yet"); got != nil {
		t.Errorf("offlineIn of a healthy message = %q", got)
	}
}
