// Package logging keeps a logger's key/value pairs unencoded until a line
// is written. zap encodes them as soon as they are added, and
// controller-runtime adds them for every reconcile, libovsdb for every
// transaction: at the default level almost none of those loggers ever
// writes a line, yet at 10,000 NICs the eager encoding allocated about a
// twelfth of the controller's memory traffic.
package logging

import (
	"slices"

	"github.com/go-logr/logr"
)

// Lazy returns l with its WithValues deferred to the lines it writes.
func Lazy(l logr.Logger) logr.Logger {
	sink := l.GetSink()
	if sink == nil {
		return l
	}
	// One more frame (this package's) between the caller and the sink.
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1)
	}
	return logr.New(&lazySink{sink: sink})
}

// lazySink adds its values to the sink only when a line is written.
type lazySink struct {
	sink   logr.LogSink
	values []any
}

// Init does nothing: the sink was initialised when its own logger was made.
func (s *lazySink) Init(logr.RuntimeInfo) {}

func (s *lazySink) Enabled(level int) bool { return s.sink.Enabled(level) }

func (s *lazySink) Info(level int, msg string, keysAndValues ...any) {
	s.withValues().Info(level, msg, keysAndValues...)
}

func (s *lazySink) Error(err error, msg string, keysAndValues ...any) {
	s.withValues().Error(err, msg, keysAndValues...)
}

func (s *lazySink) withValues() logr.LogSink {
	if len(s.values) == 0 {
		return s.sink
	}
	return s.sink.WithValues(s.values...)
}

func (s *lazySink) WithValues(keysAndValues ...any) logr.LogSink {
	return &lazySink{sink: s.sink, values: slices.Concat(s.values, keysAndValues)}
}

func (s *lazySink) WithName(name string) logr.LogSink {
	return &lazySink{sink: s.sink.WithName(name), values: s.values}
}

func (s *lazySink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.sink.(logr.CallDepthLogSink); ok {
		return &lazySink{sink: cd.WithCallDepth(depth), values: s.values}
	}
	return s
}
