package logging

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// countingSink counts the WithValues calls that reach it.
type countingSink struct {
	logr.LogSink
	withValues *int
}

func (c countingSink) WithValues(kv ...any) logr.LogSink {
	*c.withValues++
	return countingSink{LogSink: c.LogSink.WithValues(kv...), withValues: c.withValues}
}

func (c countingSink) WithName(name string) logr.LogSink {
	return countingSink{LogSink: c.LogSink.WithName(name), withValues: c.withValues}
}

func TestLazyWritesValuesOnlyWithALine(t *testing.T) {
	var out bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&out), zapcore.InfoLevel)
	var n int
	base := zapr.NewLogger(zap.New(core, zap.AddCaller()))
	log := Lazy(logr.New(countingSink{LogSink: base.GetSink(), withValues: &n}))

	// A reconcile's logger that never writes (debug lines at info level).
	quiet := log.WithName("ctl").WithValues("controller", "nic", "name", "a")
	quiet.V(1).Info("not written")
	if n != 0 || out.Len() != 0 {
		t.Fatalf("values reached the sink %d times and %q was written, want neither", n, out.String())
	}

	log.WithName("ctl").WithValues("controller", "nic").WithValues("name", "b").Info("written", "step", 2)
	line := out.String()
	for _, want := range []string{`"logger":"ctl"`, `"controller":"nic"`, `"name":"b"`, `"step":2`, `"msg":"written"`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %s lacks %s", line, want)
		}
	}
	if n != 1 {
		t.Errorf("values reached the sink %d times for one line, want 1", n)
	}
}

// The caller of a line is the code that logged, not this package.
func TestLazyKeepsTheCaller(t *testing.T) {
	var out bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&out), zapcore.InfoLevel)
	log := Lazy(zapr.NewLogger(zap.New(core, zap.AddCaller())))
	log.WithValues("k", "v").Info("here")
	log.Error(nil, "there")
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.Contains(line, `"caller":"logging/lazy_test.go:`) {
			t.Errorf("line %s does not name lazy_test.go as its caller", line)
		}
	}
}
