package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/logging"
)

// pionLogs routes pion's logs to the relay's slog logger, one logger per
// scope shared by every PeerConnection. pion asks for about a dozen loggers
// per connection, and its default factory builds five log.Loggers for each:
// several kilobytes per viewer for logs that are off.
//
// pion's errors are mostly connections ending while a write is in flight,
// not faults of the relay: they are logged at Warn, with component
// "pion/<scope>". Its warnings, info and debug lines go to Debug.
type pionLogs struct {
	log    *slog.Logger
	mu     sync.Mutex
	scopes map[string]*pionLogger
}

func newPionLogs(log *slog.Logger) *pionLogs {
	return &pionLogs{log: log, scopes: map[string]*pionLogger{}}
}

// NewLogger implements logging.LoggerFactory.
func (f *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.scopes[scope]
	if l == nil {
		l = &pionLogger{log: f.log.With("component", "pion/"+scope)}
		f.scopes[scope] = l
	}
	return l
}

type pionLogger struct{ log *slog.Logger }

const levelTrace = slog.LevelDebug - 4

func (l *pionLogger) at(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l *pionLogger) atf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) { // formatting is the cost
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l *pionLogger) Trace(msg string)                  { l.at(levelTrace, msg) }
func (l *pionLogger) Tracef(format string, args ...any) { l.atf(levelTrace, format, args...) }
func (l *pionLogger) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l *pionLogger) Debugf(format string, args ...any) { l.atf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l *pionLogger) Infof(format string, args ...any)  { l.atf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Warn(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l *pionLogger) Warnf(format string, args ...any)  { l.atf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Error(msg string)                  { l.at(slog.LevelWarn, msg) }
func (l *pionLogger) Errorf(format string, args ...any) { l.atf(slog.LevelWarn, format, args...) }
